// The schema and the users on the real ClickHouse: migrations are idempotent, roles are enforced,
// and hostile strings survive quoting exactly.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ClickHouseClient } from '@clickhouse/client';
import { createClickHouse, migrate } from '../services/adapters/clickhouse.ts';
import { quote } from '../services/adapters/sql.ts';
import { loadConfig, type Config } from '../services/config/config.ts';
import { perQueryBy } from '../services/report/queries.ts';
import { isolatedEnv } from './support/stack.ts';

let config: Readonly<Config>;
let reader: ClickHouseClient;
let writer: ClickHouseClient;

before(async () => {
  config = loadConfig(await isolatedEnv());
  reader = createClickHouse(config.clickhouse, config.clickhouse.reader, config.clickhouse.database);
  writer = createClickHouse(config.clickhouse, config.clickhouse.writer, config.clickhouse.database);
});
after(async () => {
  await reader?.close();
  await writer?.close();
});

test('migrations apply once and are a no-op the second time', async () => {
  const first = await migrate(config.clickhouse);
  assert.deepEqual(first, [
    '001_request_energy.sql',
    '002_host_ledger.sql',
    '003_request_totals_view.sql',
    '004_rollup.sql',
    '005_views.sql',
    '006_agent_runs_hardware.sql',
    '007_views.sql',
    '008_kappa_fits.sql',
  ]);
  assert.deepEqual(await migrate(config.clickhouse), []);
});

test('the reader cannot insert or drop; the writer cannot drop', async () => {
  await assert.rejects(
    reader.command({ query: "INSERT INTO host_ledger (host) VALUES ('x')" }),
    /readonly|Not enough privileges|ACCESS_DENIED/i,
  );
  await assert.rejects(
    reader.command({ query: 'DROP TABLE host_ledger' }),
    /readonly|DDL|privileges|ACCESS_DENIED/i,
  );
  await assert.rejects(writer.command({ query: 'DROP TABLE host_ledger' }), /DDL|privileges|ACCESS_DENIED/i);
  await writer.insert({
    table: 'host_ledger',
    values: [
      {
        host: 'w',
        facility: 'f',
        device_group: 'accelerator',
        window_start_ms: 1,
        window_ms: 1000,
        version: 1,
        method_version: 't',
      },
    ],
    format: 'JSONEachRow',
  });
});

const HOSTILE = [
  "'; DROP TABLE request_energy; --",
  "\\'; SELECT 1; --",
  'back\\slash at end\\',
  'nul\0byte',
  'new\nline\ttab\rcr',
  "quote''doubled",
  'unicode ü 漢字 🙂',
  '\x01\x02\x7f',
  'x'.repeat(4000),
];

test('hostile strings round-trip through quote() unchanged', async () => {
  for (const s of HOSTILE) {
    const rows = await (
      await reader.query({ query: `SELECT ${quote(s)} AS v`, format: 'JSONEachRow' })
    ).json<{ v: string }>();
    assert.equal(rows[0]!.v, s, `round-trip of ${JSON.stringify(s.slice(0, 40))}`);
  }
});

test('hostile filter values in report queries match nothing and break nothing', async () => {
  for (const s of HOSTILE) {
    const sql = perQueryBy('model', {
      models: [s],
      tenants: [s],
      facilities: [s],
      regions: [s],
      fromMs: 0,
      toMs: Date.now(),
    });
    const rows = await (await reader.query({ query: sql, format: 'JSONEachRow' })).json();
    assert.deepEqual(rows, []);
  }
  const tables = await (
    await reader.query({ query: 'SHOW TABLES', format: 'JSONEachRow' })
  ).json<{ name: string }>();
  assert.ok(tables.some((t) => t.name === 'request_energy'));
});
