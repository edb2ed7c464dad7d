// Poison rows against the real ClickHouse: a batch with bad rows is split until each bad row is
// found and handed back with the server's own error; every good row lands exactly once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createClickHouse, insertRows, migrate } from '../services/adapters/clickhouse.ts';
import { RowWriter } from '../services/adapters/row-writer.ts';
import { loadConfig } from '../services/config/config.ts';
import { isolatedEnv } from './support/stack.ts';

const row = (i: number): Record<string, unknown> => ({
  host: `h-${i}`,
  facility: 'f',
  device_group: 'accelerator',
  window_start_ms: 1_700_000_000_000 + i * 1000,
  window_ms: 1000,
  measured_j: 100,
  idle_j: 50,
  dynamic_j: 50,
  attributed_j: 80,
  unattributed_j: 20,
  estimated_j: 0,
  node_deficit_j: 0,
  active_requests: 1,
  flags: [],
  version: 1,
  method_version: 'test',
});

test('a poison batch is split until the bad rows are found; ClickHouse’s error comes with them', async () => {
  const config = loadConfig(await isolatedEnv());
  await migrate(config.clickhouse);
  const ch = createClickHouse(config.clickhouse, config.clickhouse.writer, config.clickhouse.database);
  let inserts = 0;
  const writer = new RowWriter(
    (table, rows) => {
      inserts++;
      return insertRows(ch, table, rows);
    },
    1000,
    2,
  );
  try {
    const rows = Array.from({ length: 200 }, (_, i) => row(i));
    rows[37] = { ...rows[37], measured_j: 'not a number' };
    rows[150] = { ...rows[150], unknown_column: 1 };
    const res = await writer.writeOnce(writer.batches('host_ledger', rows));
    assert.equal(res.retry.length, 0);
    assert.deepEqual(res.rejected.map((r) => r.row.host).sort(), ['h-150', 'h-37']);
    const byHost = new Map(res.rejected.map((r) => [r.row.host, r]));
    assert.equal(byHost.get('h-37')!.code, 27);
    assert.match(byHost.get('h-37')!.error, /Cannot parse/);
    assert.equal(byHost.get('h-150')!.code, 117);
    assert.match(byHost.get('h-150')!.error, /Unknown field/);
    assert.equal(res.written, 198);
    // Two bad rows among 200: about 2·2·log2(200) inserts, not 200.
    assert.ok(inserts <= 40, `${inserts} inserts`);
    const [n] = await (
      await ch.query({
        query: 'SELECT count() AS n, uniqExact(host) AS u FROM host_ledger',
        format: 'JSONEachRow',
      })
    ).json<{ n: string; u: string }>();
    assert.equal(Number(n!.n), 198);
    assert.equal(Number(n!.u), 198);
  } finally {
    await ch.close();
  }
});
