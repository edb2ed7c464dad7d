// The issue-18 views (agent runs, hardware, hour of day, length buckets, the cleaner counterfactual)
// and the report queries built on them, on the real ClickHouse server (18.16 in CI), with values
// worked out by hand from the rows in test/support/views-fixture.ts. chdb.test.ts runs the same
// checks on current ClickHouse.
import { after, before, test } from 'node:test';
import type { ClickHouseClient } from '@clickhouse/client';
import { createClickHouse, migrate } from '../services/adapters/clickhouse.ts';
import { loadConfig, type Config } from '../services/config/config.ts';
import { checkViews, VIEW_INSERTS, viewQueries } from './support/views-fixture.ts';
import { isolatedEnv } from './support/stack.ts';

let config: Readonly<Config>;
let reader: ClickHouseClient;
let writer: ClickHouseClient;

before(async () => {
  config = loadConfig(await isolatedEnv());
  await migrate(config.clickhouse);
  reader = createClickHouse(config.clickhouse, config.clickhouse.reader, config.clickhouse.database);
  writer = createClickHouse(config.clickhouse, config.clickhouse.writer, config.clickhouse.database);
});
after(async () => {
  await reader?.close();
  await writer?.close();
});

test('agent-run, hardware, hour-of-day, length and counterfactual views give the hand-worked values', async () => {
  for (const q of VIEW_INSERTS) await writer.command({ query: q });
  const results = new Map<string, Record<string, unknown>[]>();
  for (const [name, sql] of Object.entries(viewQueries()))
    results.set(name, await (await reader.query({ query: sql, format: 'JSONEachRow' })).json());
  checkViews((name) => results.get(name)!);
});
