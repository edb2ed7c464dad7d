// The Grafana dashboard (deploy/grafana/joulestream.json): every ClickHouse panel's SQL, with the
// plugin's macros filled, runs on ClickHouse 18.16 as the reader and returns the rows it charts;
// every Prometheus panel names metrics the services export.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createClickHouse, migrate } from '../services/adapters/clickhouse.ts';
import { loadFleet } from '../services/adapters/fleet-file.ts';
import { createLogger } from '../services/adapters/logger.ts';
import { Registry } from '../services/adapters/metrics.ts';
import { loadConfig } from '../services/config/config.ts';
import { Rollup } from '../services/rollup/rollup.ts';
import { dashboard, dashboardSql } from './support/grafana.ts';
import { isolatedEnv } from './support/stack.ts';

test('every ClickHouse panel runs on 18.16 as the reader and returns data', async () => {
  const config = loadConfig(await isolatedEnv());
  await migrate(config.clickhouse);
  const c = config.clickhouse;
  const writer = createClickHouse(c, c.writer, c.database);
  const reader = createClickHouse(c, c.reader, c.database);
  try {
    const t0 = Date.UTC(2026, 10, 20, 6);
    const base = {
      facility: 't-par',
      region: 'eu-west',
      zone: 'FR',
      tenant: 'acme',
      status: 'ok',
      gpus: [0],
      prompt_tokens: 100,
      completion_tokens: 100,
      accelerator_dynamic_j: 600,
      accelerator_idle_j: 100,
      host_dynamic_j: 100,
      host_idle_j: 100,
      it_j: 900,
      overhead_j: 450,
      facility_j: 1350,
      estimated_j: 0,
      embodied_g: 0.01,
      co2e_location_g: 0.021,
      co2e_market_g: 0.0075,
      water_l: null,
      ci_source: 'annual',
      share_model: 'phase',
      flags: [],
      version: 1,
      method_version: 'jsm-test',
    };
    await writer.insert({
      table: 'request_energy',
      format: 'JSONEachRow',
      values: Array.from({ length: 12 }, (_, i) => ({
        ...base,
        request_id: `g${i}`,
        host: 'host-a',
        model: i % 2 ? 'm1' : 'm2',
        t_start_ms: t0 + i * 600_000,
        t_end_ms: t0 + i * 600_000 + 1000,
        // Four agent runs of three calls, for the agent-run panels.
        trace_id: `run-${i % 4}`,
        agent_name: 'planner',
      })),
    });
    await writer.insert({
      table: 'host_ledger',
      format: 'JSONEachRow',
      values: [
        {
          host: 'host-a',
          facility: 't-par',
          device_group: 'accelerator',
          window_start_ms: t0,
          window_ms: 1000,
          measured_j: 20_000,
          idle_j: 0,
          dynamic_j: 20_000,
          attributed_j: 10_800,
          unattributed_j: 9_200,
          estimated_j: 0,
          node_deficit_j: 0,
          active_requests: 1,
          flags: [],
          version: 1,
          method_version: 'jsm-test',
        },
      ],
    });
    await new Rollup({
      writer,
      admin: null,
      database: c.database,
      fleet: loadFleet(config.fleetFile),
      log: createLogger('test', 'silent'),
      metrics: new Registry(),
      settings: config.rollup,
    }).recompute(t0, t0 + 3 * 3_600_000);
    for (const v of dashboard().templating.list) {
      const rows = await (await reader.query({ query: v.query, format: 'JSONEachRow' })).json();
      assert.ok(rows.length > 0, `variable ${v.name}`);
    }
    const panels = dashboardSql(t0 - 86_400_000, t0 + 86_400_000, {
      region: ['eu-west'],
      model: ['m1', 'm2'],
    });
    assert.equal(panels.length, 12);
    for (const p of panels) {
      const rows = await (await reader.query({ query: p.sql, format: 'JSONEachRow' })).json();
      assert.ok(rows.length > 0, `panel "${p.title}" returned no rows`);
    }
  } finally {
    await writer.close();
    await reader.close();
  }
});

test('every Prometheus panel names metrics that a service registers', () => {
  const source = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory()
        ? source(join(dir, e.name))
        : e.name.endsWith('.ts')
          ? [readFileSync(join(dir, e.name), 'utf8')]
          : [],
    );
  const code = source('services').join('\n');
  const exprs = dashboard()
    .panels.filter((p) => p.datasource.type === 'prometheus')
    .flatMap((p) => p.targets.map((t) => t.expr!));
  assert.ok(exprs.length >= 6);
  for (const e of exprs)
    for (const [series] of e.matchAll(/joulestream_[a-z_]+/g)) {
      // A histogram's series are its name plus _bucket, _sum and _count.
      const name = /_seconds_(bucket|sum|count)$/.test(series) ? series.replace(/_[a-z]+$/, '') : series;
      assert.ok(code.includes(`'${name}'`), `${name} (in ${e}) is not a registered metric`);
    }
});
