// Rollups and views against hand-computed expectations on a fixed dataset, on the real ClickHouse:
// a correction after the hour was rolled up changes the rollup, a replay double-counts nothing,
// every view answers with the numbers worked out below, and retention drops only old partitions.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import type { ClickHouseClient } from '@clickhouse/client';
import { createClickHouse, migrate } from '../services/adapters/clickhouse.ts';
import { loadFleet } from '../services/adapters/fleet-file.ts';
import { createLogger } from '../services/adapters/logger.ts';
import { Registry } from '../services/adapters/metrics.ts';
import { loadConfig, type Config } from '../services/config/config.ts';
import { freePort } from '../services/chaos/scenario.ts';
import { parsePartition, Rollup } from '../services/rollup/rollup.ts';
import { isolatedEnv } from './support/stack.ts';

let config: Readonly<Config>;
let writer: ClickHouseClient;
let reader: ClickHouseClient;
let admin: ClickHouseClient;
// 2026-11-02 10:00 UTC, and the hour after.
const H0 = Date.UTC(2026, 10, 2, 10);
const H1 = H0 + 3_600_000;

function req(
  id: string,
  host: string,
  tStartMs: number,
  facilityJ: number,
  extra: Record<string, unknown> = {},
) {
  const itJ = facilityJ / 1.5;
  return {
    request_id: id,
    host,
    facility: 't-par',
    region: 'eu-west',
    zone: 'FR',
    model: 'm1',
    tenant: 'tenant-a',
    status: 'ok',
    gpus: [0],
    t_start_ms: tStartMs,
    t_end_ms: tStartMs + 2000,
    prompt_tokens: 100,
    completion_tokens: 400,
    accelerator_dynamic_j: itJ * 0.6,
    accelerator_idle_j: itJ * 0.2,
    host_dynamic_j: itJ * 0.1,
    host_idle_j: itJ * 0.1,
    it_j: itJ,
    overhead_j: facilityJ - itJ,
    facility_j: facilityJ,
    estimated_j: 0,
    embodied_g: 0.01,
    // 56 g/kWh on facility energy.
    co2e_location_g: (facilityJ / 3.6e6) * 56,
    co2e_market_g: (facilityJ / 3.6e6) * 20,
    water_l: (itJ / 3.6e6) * 0.5,
    ci_source: 'annual',
    share_model: 'phase',
    flags: [],
    version: 1,
    method_version: 'jsm-test',
    ...extra,
  };
}

function ledger(host: string, tMs: number, measuredJ: number, attributedJ: number) {
  return {
    host,
    facility: 't-par',
    device_group: 'accelerator',
    window_start_ms: tMs,
    window_ms: 1000,
    measured_j: measuredJ,
    idle_j: 0,
    dynamic_j: measuredJ,
    attributed_j: attributedJ,
    unattributed_j: measuredJ - attributedJ,
    estimated_j: 0,
    node_deficit_j: 0,
    active_requests: 1,
    flags: [],
    version: 1,
    method_version: 'jsm-test',
  };
}

const insert = (table: string, values: Record<string, unknown>[]) =>
  writer.insert({ table, values, format: 'JSONEachRow' });

async function rows(sql: string): Promise<Record<string, unknown>[]> {
  return (await reader.query({ query: sql, format: 'JSONEachRow' })).json();
}

function rollup(clock: number, settings = { trailingMs: 3_600_000, retainRawDays: 0, retainHourlyDays: 0 }) {
  return new Rollup({
    writer,
    admin,
    database: config.clickhouse.database,
    fleet: loadFleet(config.fleetFile),
    log: createLogger('test', 'silent'),
    metrics: new Registry(),
    settings,
    clock: () => clock,
  });
}

const close = (a: unknown, b: number, what: string) =>
  assert.ok(Math.abs(Number(a) - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${what}: ${String(a)} vs ${b}`);

before(async () => {
  config = loadConfig(await isolatedEnv());
  await migrate(config.clickhouse);
  const c = config.clickhouse;
  writer = createClickHouse(c, c.writer, c.database);
  reader = createClickHouse(c, c.reader, c.database);
  admin = createClickHouse(c, c.admin!, c.database);
  // Host h1, hour H0: three requests of 1, 2 and 3 Wh facility energy (it = facility / 1.5).
  // Its ledger: 20,000 J measured, of which 14,400 J attributed (= the requests' IT energy), so
  // 5,600 J unattributed, to be spread over the three requests in proportion to IT energy.
  // Host h2, hour H1: one 4 Wh request of tenant-b, market factor missing.
  await insert('request_energy', [
    req('r1', 'h1', H0 + 60_000, 3600),
    req('r2', 'h1', H0 + 120_000, 7200),
    req('r3', 'h1', H0 + 180_000, 10800),
    req('r4', 'h2', H1 + 60_000, 14400, { tenant: 'tenant-b', model: 'm2', co2e_market_g: null }),
  ]);
  await insert('host_ledger', [
    ledger('h1', H0, 12_000, 9_600),
    ledger('h1', H0 + 1000, 8_000, 4_800),
    ledger('h2', H1, 9_600, 9_600),
  ]);
});

after(async () => {
  await writer?.close();
  await reader?.close();
  await admin?.close();
});

test('hourly and daily rollups match hand-computed sums, percentiles and the fully loaded spread', async () => {
  await rollup(1000).recompute(H0, H1 + 3_600_000);
  const [h] = await rows(
    `SELECT * FROM rollup FINAL WHERE grain = 'hour' AND period_start = toDateTime(${H0 / 1000}) AND tenant = 'tenant-a'`,
  );
  assert.equal(Number(h!.queries), 3);
  assert.equal(Number(h!.prompt_tokens), 300);
  close(h!.facility_j, 21_600, 'facility_j');
  close(h!.it_j, 14_400, 'it_j');
  close(h!.accelerator_j, 14_400 * 0.6, 'accelerator_j');
  close(h!.idle_j, 14_400 * 0.3, 'idle_j');
  close(h!.overhead_j, 7_200, 'overhead_j');
  close(h!.co2e_location_g, (21_600 / 3.6e6) * 56, 'location');
  close(h!.co2e_market_g, (21_600 / 3.6e6) * 20, 'market');
  assert.equal(Number(h!.market_queries), 3);
  // quantileExact takes the element at floor(q·n) of the sorted values: [1, 2, 3] Wh.
  assert.deepEqual([h!.wh_p50, h!.wh_p90, h!.wh_p99], [2, 3, 3]);
  // Fully loaded: facility × (1 + 5,600 / 14,400).
  close(h!.fully_loaded_facility_j, 21_600 * (1 + 5_600 / 14_400), 'fully loaded');
  const [d] = await rows(
    `SELECT sum(queries) AS q, sum(facility_j) AS f FROM rollup FINAL WHERE grain = 'day'`,
  );
  assert.equal(Number(d!.q), 4);
  close(d!.f, 36_000, 'day facility_j');
  const [b] = await rows(`SELECT * FROM rollup FINAL WHERE grain = 'hour' AND tenant = 'tenant-b'`);
  assert.equal(Number(b!.market_queries), 0);
  assert.equal(b!.model, 'm2');
});

test('a correction after the rollup changes it; a replay double-counts nothing', async () => {
  await rollup(2000).recompute(H0, H1);
  // r1 corrected (late power): 3,600 J becomes 5,400 J, with a higher version.
  await insert('request_energy', [req('r1', 'h1', H0 + 60_000, 5400, { version: 2 })]);
  await rollup(3000).recompute(H0, H1);
  const q = `SELECT queries, facility_j, wh_p50 FROM rollup FINAL WHERE grain = 'hour' AND tenant = 'tenant-a'`;
  const [h] = await rows(q);
  assert.equal(Number(h!.queries), 3);
  close(h!.facility_j, 23_400, 'corrected facility_j');
  // [1.5, 2, 3] Wh now.
  assert.equal(h!.wh_p50, 2);
  // The same correction delivered again, and the rollup run again: unchanged.
  await insert('request_energy', [req('r1', 'h1', H0 + 60_000, 5400, { version: 2 })]);
  await rollup(4000).recompute(H0, H1);
  await rollup(4000).recompute(H0, H1);
  const [again] = await rows(q);
  assert.equal(Number(again!.queries), 3);
  close(again!.facility_j, 23_400, 'after replay');
  const [daily] = await rows(`SELECT sum(facility_j) AS f FROM rollup FINAL WHERE grain = 'day'`);
  close(daily!.f, 37_800, 'daily after correction');
});

test('the views answer with the hand-computed figures', async () => {
  await rollup(5000).recompute(H0, H1 + 3_600_000);
  // Per query and per 1,000 tokens, by day, model and region: m1 has 3 queries, 1,500 tokens, 23,400 J.
  const [pq] = await rows(`SELECT * FROM v_per_query_daily WHERE model = 'm1'`);
  assert.equal(Number(pq!.queries), 3);
  close(pq!.wh_per_query, 23_400 / 3600 / 3, 'wh per query');
  close(pq!.wh_per_1k_tokens, 23_400 / 3600 / 1.5, 'wh per 1k tokens');
  close(pq!.g_co2e_location_per_query, ((23_400 / 3.6e6) * 56) / 3, 'g per query');
  // Tenant statement: tenant-b's one query has no market factor, so its market CO2e is 0 of 0 covered.
  const st = await rows(`SELECT * FROM v_tenant_monthly_statement ORDER BY tenant`);
  assert.deepEqual(
    st.map((r) => r.tenant),
    ['tenant-a', 'tenant-b'],
  );
  close(st[0]!.energy_kwh, 23_400 / 3.6e6, 'statement kWh');
  close(st[0]!.co2e_location_kg, ((23_400 / 3.6e6) * 56) / 1000, 'statement kg');
  assert.equal(Number(st[1]!.market_queries), 0);
  assert.equal(st[0]!.method_version, 'jsm-test');
  // Facility KPIs: IT energy measured 29,600 J at t-par, PUE 1.5 from the fleet file, 4 queries.
  const [k] = await rows(`SELECT * FROM v_facility_kpis_monthly WHERE facility = 't-par'`);
  close(k!.it_kwh, 29_600 / 3.6e6, 'it kWh');
  close(k!.total_kwh, (29_600 / 3.6e6) * 1.5, 'total kWh');
  close(k!.pue, 1.5, 'pue');
  close(k!.wue_l_per_kwh, 0.5, 'wue');
  assert.equal(Number(k!.queries), 4);
  // The conservation ledger by host-hour.
  const [c] = await rows(`SELECT * FROM v_conservation_hourly WHERE host = 'h1'`);
  close(c!.measured_kwh, 20_000 / 3.6e6, 'measured');
  close(c!.unattributed_kwh, 5_600 / 3.6e6, 'unattributed');
  assert.ok(Number(c!.max_relative_error) < 1e-12);
  // The fully loaded view spreads h1's 5,600 J over its requests by IT energy; the sum is kept.
  const fl = await rows(
    `SELECT request_id, spread_it_j FROM request_energy_fully_loaded WHERE host = 'h1' ORDER BY request_id`,
  );
  close(
    fl.reduce((a, r) => a + Number(r.spread_it_j), 0),
    5_600,
    'spread total',
  );
  close(fl[0]!.spread_it_j, (5_600 * 3600) / 15_600, 'r1 share');
});

test('retention drops whole months past the cutoff and keeps the rest', async () => {
  const old = Date.UTC(2025, 0, 15);
  await insert('request_energy', [req('old', 'h1', old, 3600)]);
  await insert('host_ledger', [ledger('h1', old, 100, 100)]);
  const r = rollup(Date.UTC(2026, 10, 28), { trailingMs: 3_600_000, retainRawDays: 90, retainHourlyDays: 0 });
  const dropped = await r.retention(Date.UTC(2026, 10, 28));
  assert.deepEqual(dropped.sort(), ['host_ledger 202501', 'request_energy 202501']);
  const [n] = await rows(`SELECT count() AS n, countIf(request_id = 'old') AS o FROM request_energy FINAL`);
  assert.equal(Number(n!.n), 4);
  assert.equal(Number(n!.o), 0);
  // Only the two shapes system.parts shows reach SQL.
  assert.deepEqual(parsePartition("('hour',202611)"), {
    month: 202611,
    grain: 'hour',
    literal: "('hour', 202611)",
  });
  assert.equal(parsePartition('202611); DROP TABLE x; --'), null);
});

test('joulestream backfill and the scheduled service run from the CLI; the service stops on SIGTERM', async () => {
  const env = { ...process.env, ...(await isolatedEnv()), CLICKHOUSE_DATABASE: config.clickhouse.database };
  const bin = fileURLToPath(new URL('../bin/joulestream.js', import.meta.url));
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [bin, 'backfill', '--from', new Date(H0).toISOString(), '--to', new Date(H1 + 3_600_000).toISOString()],
    { env },
  );
  assert.match(stdout, /recomputed 2 hours and 1 days/);
  await assert.rejects(
    promisify(execFile)(process.execPath, [bin, 'backfill'], { env }),
    /backfill needs --from/,
  );
  // The service: two runs five seconds apart, visible in its metrics, then a clean stop.
  const port = await freePort();
  const child = spawn(process.execPath, [bin, 'rollup'], {
    env: { ...env, JOULESTREAM_ROLLUP_INTERVAL_S: '5', JOULESTREAM_HTTP_PORT: String(port) },
    stdio: 'ignore',
  });
  try {
    const deadline = Date.now() + 30_000;
    let runs = 0;
    while (Date.now() < deadline && runs < 2) {
      const text = await fetch(`http://127.0.0.1:${port}/metrics`)
        .then((r) => r.text())
        .catch(() => '');
      runs = Number(/joulestream_rollup_runs_total\{outcome="ok"\} (\d+)/.exec(text)?.[1] ?? 0);
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(runs >= 2, `scheduled runs: ${runs}`);
  } finally {
    child.kill('SIGTERM');
  }
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  assert.equal(code, 0);
});
