// The report CLI on the real ClickHouse: every view answers, exports are well-formed, hostile filter
// values are refused or match nothing, and the HTML report renders its charts with data in headless
// Chromium without console errors (a screenshot is kept in test-artifacts/ for a human to look at).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import type { ClickHouseClient } from '@clickhouse/client';
import { createClickHouse, migrate } from '../services/adapters/clickhouse.ts';
import { loadFleet } from '../services/adapters/fleet-file.ts';
import { createLogger } from '../services/adapters/logger.ts';
import { Registry } from '../services/adapters/metrics.ts';
import { loadConfig, type Config, type Env } from '../services/config/config.ts';
import { parseFilters } from '../services/report/cli.ts';
import { Rollup } from '../services/rollup/rollup.ts';
import { isolatedEnv } from './support/stack.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const ARTIFACTS = join(ROOT, 'test-artifacts');
let env: Env;
let config: Readonly<Config>;
let writer: ClickHouseClient;
const HOSTILE_TENANT = `evil'); DROP TABLE request_energy; --<script>alert(1)</script>`;

async function cli(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const r = await run(process.execPath, [join(ROOT, 'bin/joulestream.js'), 'report', ...args], {
      env: { ...process.env, ...env },
      cwd: ROOT,
    });
    return { ...r, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

before(async () => {
  env = await isolatedEnv();
  config = loadConfig(env);
  await migrate(config.clickhouse);
  const c = config.clickhouse;
  writer = createClickHouse(c, c.writer, c.database);
  // Three models, two regions, four tenants (one hostile), over six hours.
  const t0 = Date.UTC(2026, 10, 20, 6);
  const rows = [];
  for (let i = 0; i < 240; i++) {
    const model = ['llama-8b', 'llama-70b', 'mixtral'][i % 3]!;
    const paris = i % 2 === 0;
    const facilityJ = (model === 'llama-70b' ? 4000 : 1200) * (1 + (i % 7) / 7);
    const itJ = facilityJ / (paris ? 1.5 : 1.2);
    rows.push({
      request_id: `q${i}`,
      host: paris ? 'host-a' : 'host-c',
      facility: paris ? 't-par' : 't-iad',
      region: paris ? 'eu-west' : 'us-east',
      zone: paris ? 'FR' : 'US',
      model,
      tenant: ['acme', 'globex', 'initech', HOSTILE_TENANT][i % 4],
      status: 'ok',
      gpus: [0],
      t_start_ms: t0 + i * 90_000,
      t_end_ms: t0 + i * 90_000 + 3000,
      prompt_tokens: 500,
      completion_tokens: 200 + (i % 5) * 50,
      accelerator_dynamic_j: itJ * 0.55,
      accelerator_idle_j: itJ * 0.2,
      host_dynamic_j: itJ * 0.15,
      host_idle_j: itJ * 0.1,
      it_j: itJ,
      overhead_j: facilityJ - itJ,
      facility_j: facilityJ,
      estimated_j: 0,
      embodied_g: 0.02,
      co2e_location_g: (facilityJ / 3.6e6) * (paris ? 56 : 380),
      co2e_market_g: paris ? (facilityJ / 3.6e6) * 20 : null,
      water_l: null,
      ci_source: 'annual',
      share_model: 'phase',
      flags: [],
      version: 1,
      method_version: 'jsm-test',
      // The first 60 calls are 15 agent runs of 4 calls, alternating between the two hosts.
      trace_id: i < 60 ? `run-${Math.floor(i / 4)}` : '',
      conversation_id: i < 60 ? `conv-${Math.floor(i / 8)}` : '',
      agent_name: i < 60 ? 'planner' : '',
    });
  }
  await writer.insert({ table: 'request_energy', values: rows, format: 'JSONEachRow' });
  // The hosts' ledger for the same hours: 1 kWh measured per host-hour, 10 % unattributed.
  const ledger = [];
  for (const host of ['host-a', 'host-c'])
    for (let h = 0; h < 6; h++)
      ledger.push({
        host,
        facility: host === 'host-a' ? 't-par' : 't-iad',
        device_group: 'accelerator',
        window_start_ms: t0 + h * 3_600_000,
        window_ms: 1000,
        measured_j: 3.6e6,
        idle_j: 1e6,
        dynamic_j: 2.6e6,
        attributed_j: 3.24e6,
        unattributed_j: 0.36e6,
        estimated_j: 0,
        node_deficit_j: 0,
        active_requests: 1,
        flags: [],
        version: 1,
        method_version: 'jsm-test',
      });
  await writer.insert({ table: 'host_ledger', values: ledger, format: 'JSONEachRow' });
  await new Rollup({
    writer,
    admin: null,
    database: c.database,
    fleet: loadFleet(config.fleetFile),
    log: createLogger('test', 'silent'),
    metrics: new Registry(),
    settings: config.rollup,
  }).recompute(t0, t0 + 7 * 3_600_000);
  // After the rollup: its host_info rows come from the test fleet (all H100); these are newer.
  await writer.insert({
    table: 'host_info',
    values: [
      {
        host: 'host-a',
        facility: 't-par',
        accelerator: 'nvidia-h100-sxm5-80gb',
        gpu_count: 8,
        version: Date.now() + 1,
      },
      {
        host: 'host-c',
        facility: 't-iad',
        accelerator: 'nvidia-a100-sxm4-80gb',
        gpu_count: 8,
        version: Date.now() + 1,
      },
    ],
    format: 'JSONEachRow',
  });
});

after(async () => {
  await writer?.close();
});

test('every view answers, as a table, CSV and JSON', async () => {
  for (const view of ['per-query', 'per-1k-tokens', 'tenant-statement', 'facility-kpis', 'ledger', 'sci']) {
    const r = await cli('--view', view, '--format', 'json');
    assert.equal(r.code, 0, `${view}: ${r.stderr}`);
    const rows = JSON.parse(r.stdout) as Record<string, unknown>[];
    assert.ok(rows.length > 0, `${view} has rows`);
  }
  const sci = JSON.parse((await cli('--view', 'sci', '--format', 'json')).stdout) as Record<
    string,
    unknown
  >[];
  assert.deepEqual(
    sci.map((r) => r.model),
    ['llama-70b', 'llama-8b', 'mixtral'],
  );
  assert.ok(sci.every((r) => Number(r.sci_g_per_query) > 0 && String(r.boundary).includes('embodied')));
  assert.ok(sci.every((r) => String(r.grid_basis).startsWith('location-based, lifecycle emissions')));
  const table = await cli('--view', 'per-1k-tokens', '--by', 'model');
  assert.match(table.stdout, /wh_per_1k_tokens/);
  const eed = await cli('--view', 'eed');
  assert.match(
    eed.stdout.split('\n')[0]!,
    /^reporting_month,facility,region,total_energy_consumption_kwh,it_energy_consumption_kwh,pue/,
  );
  assert.match(eed.stdout.split('\n')[0]!, /,grid_emission_factor_basis$/);
  // The hostile tenant comes back intact in CSV, quoted, never as a formula.
  const csv = await cli('--view', 'tenant-statement', '--format', 'csv');
  assert.ok(
    csv.stdout.includes(`"evil'); DROP TABLE request_energy; --<script>alert(1)</script>"`) ||
      csv.stdout.includes(HOSTILE_TENANT),
  );
});

test('the agent-run, hardware, hour-of-day, length and counterfactual views answer with the rows’ figures', async () => {
  const json = async (...args: string[]) => {
    const r = await cli('--format', 'json', ...args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return JSON.parse(r.stdout) as Record<string, unknown>[];
  };
  const perRun = await json('--view', 'calls-per-run');
  assert.deepEqual(
    perRun.map((r) => [Number(r.calls), Number(r.runs)]),
    [[4, 15]], // untraced calls are in no run
  );
  const [run] = await json('--view', 'agent-runs');
  assert.deepEqual(run!.hosts, ['host-a', 'host-c']); // a run's calls on both hosts, summed
  assert.equal(run!.agent_name, 'planner');
  assert.equal((await json('--view', 'conversations')).length, 8);
  const hw = await json('--view', 'hardware', '--model', 'llama-70b');
  assert.deepEqual(
    hw.map((r) => [r.accelerator, Number(r.queries)]),
    [
      ['nvidia-a100-sxm4-80gb', 40],
      ['nvidia-h100-sxm5-80gb', 40],
    ],
  );
  // Six hours from 06:00 UTC, two zones: 12 (zone, hour) rows.
  assert.equal((await json('--view', 'hour-of-day')).length, 12);
  assert.ok((await json('--view', 'length')).length > 0);
  const cleaner = await json('--view', 'cleaner');
  assert.deepEqual(
    cleaner.map((r) => [r.model, r.cleanest_zone, r.dirtiest_zone]),
    [
      ['llama-70b', 'FR', 'US'],
      ['llama-8b', 'FR', 'US'],
      ['mixtral', 'FR', 'US'],
    ],
  );
  assert.equal((await json('--view', 'cleaner-detail')).length, 3 * 12);
});

test('hostile filter values: matched literally or refused with a clear error, never executed', async () => {
  const exact = await cli('--by', 'tenant', '--tenant', HOSTILE_TENANT, '--format', 'json');
  assert.equal(exact.code, 0, exact.stderr);
  const rows = JSON.parse(exact.stdout) as Record<string, unknown>[];
  assert.deepEqual(
    rows.map((r) => r.tenant),
    [HOSTILE_TENANT],
  );
  for (const v of ["x' OR '1'='1", "a\\'; DROP TABLE rollup; --", 'x'.repeat(256)]) {
    const r = await cli('--tenant', v, '--model', v, '--region', v, '--format', 'json');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), []);
  }
  for (const [args, msg] of [
    [['--tenant', 'bell\u0007'], /not a valid value/],
    [['--tenant', 'y'.repeat(300)], /not a valid value/],
    [['--from', "2026-01-01'; DROP"], /--from/],
    [['--view', 'nope'], /--view must be one of/],
    [['--by', 'host; DROP'], /--by must be/],
    [['--from', '2026-02-01', '--to', '2026-01-01'], /--to must be after --from/],
  ] as const) {
    const r = await cli(...args);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, msg);
  }
  // A NUL cannot travel in argv at all; the same check refuses it where filters come from code.
  assert.throws(() => parseFilters({ tenant: ['nul\u0000byte'] }), /not a valid value/);
  // Everything still there.
  const after = await cli('--by', 'model', '--format', 'json');
  assert.equal((JSON.parse(after.stdout) as unknown[]).length, 3);
});

test('the HTML report renders every chart with data in headless Chromium, without console errors', async (t) => {
  const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
  assert.ok(chromium, 'Debian’s chromium is missing: scripts/test.sh installs it (apt-get install chromium)');
  const dir = mkdtempSync(join(tmpdir(), 'report-'));
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = join(dir, 'report.html');
  const r = await cli('--html', file, '--by', 'model');
  assert.equal(r.code, 0, r.stderr);
  const html = readFileSync(file, 'utf8');
  assert.ok(!html.includes('<script>alert(1)'), 'data is escaped');
  assert.match(html, /Grid factors: location-based, lifecycle emissions/);
  assert.ok(!/src=["']https?:|href=["']https?:/.test(html), 'self-contained');
  const { chromium: pw } = await import('playwright-core');
  const browser = await pw.launch({
    executablePath: chromium,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('request', (req) => {
      if (!req.url().startsWith('file:')) errors.push(`network request to ${req.url()}`);
    });
    await page.goto(`file://${file}`, { waitUntil: 'networkidle' });
    const count = (sel: string) => page.locator(sel).count();
    const heights = await Promise.all(
      (await page.locator('rect.segment').all()).map(async (l) => Number(await l.getAttribute('height'))),
    );
    writeFileSync(join(ARTIFACTS, 'report-under-test.html'), html);
    const counts = {
      charts: await count('svg.chart'),
      lines: await count('path.series'),
      boxes: await count('g.box'),
      segments: heights.filter((h) => h > 0).length,
      bars: await count('rect.bar'),
      alerts: await count('script'),
    };
    assert.deepEqual(
      {
        charts: counts.charts,
        lines: counts.lines,
        boxes: counts.boxes,
        bars: counts.bars,
        scripts: counts.alerts,
      },
      // 4 charts of the per-query report + calls per run, hardware (2), hour of day, Wh vs tokens;
      // lines: 2 regions over time + 2 zones by hour of day; bars: 4 tenants + 1 calls-per-run bar +
      // 2 hardware charts x 3 models x 2 accelerators.
      { charts: 9, lines: 4, boxes: 3, bars: 4 + 1 + 12, scripts: 0 },
    );
    assert.ok(counts.segments >= 12, `stacked segments: ${counts.segments}`);
    // Bars really have extent on screen (the chart is not an empty frame).
    const box = await page.locator('rect.bar').first().boundingBox();
    assert.ok(box && box.width > 1);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'report.png'), fullPage: true });
    t.diagnostic(`screenshot: ${join(ARTIFACTS, 'report.png')}`);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
