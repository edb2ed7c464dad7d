// Every migration and every query the code sends, run on current ClickHouse through chDB (the
// in-process engine from PyPI). CI's server is 18.16; this proves the same SQL on what users run.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { compatSettings, listMigrations, statements } from '../services/adapters/clickhouse.ts';
import { quote } from '../services/adapters/sql.ts';
import {
  boundaryBreakdown,
  co2eByMinute,
  co2eOverTime,
  conservationTotals,
  energyDistribution,
  facilityKpis,
  ledgerHourly,
  per1kTokensBy,
  perQueryBy,
  sciByModel,
  tenantStatement,
  topTenants,
} from '../services/report/queries.ts';
import { rollupInsert } from '../services/rollup/queries.ts';
import { loadFitsSql } from '../services/joiner/kappa-store.ts';
import { dashboard, dashboardSql } from './support/grafana.ts';
import { checkViews, VIEW_INSERTS, viewQueries } from './support/views-fixture.ts';

// The Python side only executes what it is given, in one session, and reports each error.
const RUNNER = `
import json, sys
from chdb import session
s = session.Session()
out = []
for q in json.load(sys.stdin):
    try:
        out.append({"ok": True, "rows": s.query(q, "JSONEachRow").data()})
    except Exception as e:
        out.append({"ok": False, "error": str(e)[:500]})
print(json.dumps({"version": s.query("SELECT version()", "CSV").data().strip(), "results": out}))
`;

function python(): string | null {
  for (const p of ['python3', 'python'])
    if (spawnSync(p, ['-c', 'import chdb'], { encoding: 'utf8' }).status === 0) return p;
  return null;
}

const py = python();
const hasPython = spawnSync('python3', ['--version']).status === 0;

test(
  'migrations and query templates run on current ClickHouse (chDB)',
  {
    skip: hasPython
      ? false
      : 'SKIPPED LOUDLY: no Python on this machine, so the current-ClickHouse conformance check did not run',
  },
  () => {
    assert.ok(py, 'Python is present but chdb is not installed: run pip install chdb (scripts/test.sh does)');
    const hostile = "x'); DROP TABLE request_energy; --\\";
    const queries = [
      'CREATE DATABASE IF NOT EXISTS js_conformance',
      'USE js_conformance',
      ...listMigrations().flatMap((m) => statements(m.sql)),
      // Sample rows in the shape the joiner writes.
      `INSERT INTO request_energy (request_id, host, facility, region, zone, model, tenant, status, gpus, t_start_ms, t_end_ms, prompt_tokens, completion_tokens, accelerator_dynamic_j, accelerator_idle_j, host_dynamic_j, host_idle_j, it_j, overhead_j, facility_j, estimated_j, embodied_g, co2e_location_g, co2e_market_g, water_l, ci_source, share_model, flags, version, method_version)
     VALUES ('r1', 'h', 'f', 'eu', 'FR', 'm', ${quote(hostile)}, 'ok', [0,1], 1700000000000, 1700000001000, 10, 5, 1, 0.5, 0.1, 0.05, 1.65, 0.5, 2.15, 0, 0.001, 0.0001, NULL, NULL, 'annual', 'phase', ['estimated'], 1, 'jsm-1.0'),
            ('r1', 'h', 'f', 'eu', 'FR', 'm', ${quote(hostile)}, 'ok', [0,1], 1700000000000, 1700000001000, 10, 5, 2, 0.5, 0.1, 0.05, 2.65, 0.5, 3.15, 0, 0.001, 0.0002, 0.1, 0.2, 'annual', 'phase', [], 2, 'jsm-1.0')`,
      `INSERT INTO host_ledger (host, facility, device_group, window_start_ms, window_ms, measured_j, idle_j, dynamic_j, attributed_j, unattributed_j, estimated_j, node_deficit_j, active_requests, flags, version, method_version)
     VALUES ('h', 'f', 'accelerator', 1700000000000, 1000, 10, 5, 5, 8, 2, 0, 0, 1, [], 1, 'jsm-1.0')`,
      // Online kappa (migration 008): a fit and the joiner's start-up read of its group's fits.
      `INSERT INTO kappa_fits (fitter, model, effective_from_ms, from_ms, to_ms, kappa, kappa_std_err, r2, windows, prefill_j_per_token, decode_j_per_token, prefill_tokens_per_s, version)
     VALUES (${quote(hostile)}, 'm', 1700000060000, 1700000000000, 1700000050000, 0.02, 0.001, 0.99, 120, 0.06, 3, 9000, 1)`,
      loadFitsSql(hostile),
      ...(['facility', 'model', 'region', 'tenant'] as const).map((d) => perQueryBy(d, {})),
      perQueryBy('tenant', {
        tenants: [hostile],
        models: ['m'],
        fromMs: 1_600_000_000_000,
        toMs: 1_800_000_000_000,
      }),
      conservationTotals({ fromMs: 0, toMs: 1_800_000_000_000, facilities: ['f'] }),
      'SELECT * FROM request_energy_total',
      // The rollup (hourly and daily) and every view and report query built on it.
      `INSERT INTO facility_info (facility, region, zone, pue, renewable_share, wue_l_per_kwh, version) VALUES ('f', 'eu', 'FR', 1.5, 0.4, NULL, 1)`,
      rollupInsert('hour', 1_699_999_200_000, 1_700_006_400_000, 1),
      rollupInsert('day', 1_699_999_200_000, 1_700_006_400_000, 1),
      'SELECT * FROM request_energy_fully_loaded',
      'SELECT * FROM v_conservation_hourly',
      'SELECT * FROM v_per_query_daily',
      'SELECT * FROM v_tenant_monthly_statement',
      'SELECT * FROM v_facility_kpis_monthly',
      ...(['facility', 'model', 'region', 'tenant'] as const).map((d) => per1kTokensBy(d, {})),
      // The Grafana dashboard's panels and variables, macros filled as the plugin fills them.
      ...dashboard().templating.list.map((v) => v.query),
      ...dashboardSql(1_600_000_000_000, 1_800_000_000_000, { region: ['eu', "it's"], model: ['m'] }).map(
        (p) => p.sql,
      ),
      ...[
        {},
        {
          fromMs: 1_600_000_000_000,
          toMs: 1_800_000_000_000,
          tenants: [hostile],
          facilities: ['f'],
          regions: ['eu'],
        },
      ].flatMap((f) => [
        tenantStatement(f),
        facilityKpis(f),
        ledgerHourly(f),
        sciByModel(f),
        co2eOverTime(f, 'hour'),
        co2eOverTime(f, 'day'),
        co2eByMinute(f),
        energyDistribution(f),
        boundaryBreakdown(f),
        topTenants(f),
      ]),
      // The migration runner's own bookkeeping.
      'CREATE TABLE IF NOT EXISTS schema_migrations (name String, checksum String, applied_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY name',
      `INSERT INTO schema_migrations (name, checksum) VALUES (${quote('001_x.sql')}, ${quote('abc')})`,
      'SELECT name, checksum FROM schema_migrations',
      // The issue-18 views and their report queries, in a database of their own (test/views.test.ts
      // runs the same checks on 18.16).
      'CREATE DATABASE IF NOT EXISTS js_views',
      'USE js_views',
      ...listMigrations().flatMap((m) => statements(m.sql)),
      ...VIEW_INSERTS,
    ];
    const viewNames = Object.keys(viewQueries());
    const firstView = queries.length;
    queries.push(...Object.values(viewQueries()));
    const fitsQuery = queries.indexOf(loadFitsSql(hostile));
    const tenantQuery = queries.findIndex(
      (q) => q.includes('DROP TABLE request_energy; --') && q.includes('GROUP BY tenant'),
    );
    const res = spawnSync(py, ['-c', RUNNER], {
      input: JSON.stringify(queries),
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    assert.equal(res.status, 0, res.stderr);
    const { version, results } = JSON.parse(res.stdout) as {
      version: string;
      results: { ok: boolean; error?: string; rows?: string }[];
    };
    assert.ok(
      Number(version.replace(/"/g, '').split('.')[0]) >= 24,
      `chDB engine ${version} is current ClickHouse`,
    );
    // The 18.16-only setting must not be sent to this server: it rejects it as unknown.
    assert.deepEqual(compatSettings(version.replace(/"/g, '')), {});
    results.forEach((r, i) =>
      assert.ok(r.ok, `query ${i} failed on ClickHouse ${version}: ${r.error}\n${queries[i]!.slice(0, 300)}`),
    );
    const byTenant = results[tenantQuery]!.rows!.trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { tenant: string; queries: number | string; g_co2e_per_query: number });
    // FINAL keeps the latest version only, and the hostile tenant value matched exactly.
    assert.equal(byTenant.length, 1);
    assert.equal(byTenant[0]!.tenant, hostile);
    assert.equal(Number(byTenant[0]!.queries), 1);
    assert.equal(byTenant[0]!.g_co2e_per_query, 0.0002);
    const [fit] = results[fitsQuery]!.rows!.trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(Number(fit!.kappa), 0.02, 'the fit read back for its (hostile) fitter name');
    // The rollup on current ClickHouse: one hourly row for the latest version of r1, spread included.
    const view = (q: string) =>
      results[queries.indexOf(q)]!.rows!.trim()
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    const [fl] = view('SELECT * FROM request_energy_fully_loaded');
    assert.equal(Number(fl!.spread_it_j), 2);
    const [kpi] = view('SELECT * FROM v_facility_kpis_monthly');
    assert.equal(Number(kpi!.total_kwh), (10 / 3.6e6) * 1.5);
    assert.equal(Number(kpi!.renewable_share), 0.4);
    const [pq] = view('SELECT * FROM v_per_query_daily');
    assert.equal(Number(pq!.queries), 1);
    assert.equal(Number(pq!.wh_per_query), 3.15 / 3600);
    checkViews((name) =>
      results[firstView + viewNames.indexOf(name)]!.rows!.trim()
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    );
  },
);
