// Request rows for the issue-18 views, shared by the 18.16 test (test/views.test.ts) and the chDB
// test, with what each view must give computed by hand from them (in the comments).
import assert from 'node:assert/strict';
import { quote } from '../../services/adapters/sql.ts';
import type { Filters } from '../../services/report/queries.ts';
import {
  agentRuns,
  agentSummary,
  callsPerRun,
  cleanerCounterfactual,
  cleanerSummary,
  conversations,
  energyByLength,
  hardwareByModel,
  hourOfDayByZone,
  whVsTokens,
} from '../../services/report/views.ts';

const H2 = 1_700_013_600_000; // 2023-11-15 02:00 UTC: hour of day 2
const H15 = H2 + 13 * 3_600_000; // hour of day 15

interface Row {
  id: string;
  host: string;
  zone: string;
  model: string;
  t: number;
  pt: number;
  ct: number;
  fj: number;
  g: number;
  trace: string;
  conv: string;
  agent: string;
  version: number;
}

/** r1 spans two hosts (a multi-host call); r2 has an older version that FINAL must drop. */
export const VIEW_ROWS: Row[] = [
  {
    id: 'r1',
    host: 'h1',
    zone: 'FR',
    model: 'm',
    t: H2,
    pt: 100,
    ct: 50,
    fj: 3600,
    g: 0.3,
    trace: 'T1',
    conv: '',
    agent: '',
    version: 1,
  },
  {
    id: 'r1',
    host: 'h2',
    zone: 'DE',
    model: 'm',
    t: H2,
    pt: 100,
    ct: 50,
    fj: 1800,
    g: 0.1,
    trace: 'T1',
    conv: '',
    agent: '',
    version: 1,
  },
  {
    id: 'r2',
    host: 'h2',
    zone: 'DE',
    model: 'm',
    t: H15,
    pt: 300,
    ct: 200,
    fj: 9999,
    g: 9,
    trace: 'T1',
    conv: 'C1',
    agent: 'planner',
    version: 1,
  },
  {
    id: 'r2',
    host: 'h2',
    zone: 'DE',
    model: 'm',
    t: H15,
    pt: 300,
    ct: 200,
    fj: 7200,
    g: 0.5,
    trace: 'T1',
    conv: 'C1',
    agent: 'planner',
    version: 2,
  },
  {
    id: 'r3',
    host: 'h1',
    zone: 'FR',
    model: 'm',
    t: H15,
    pt: 1000,
    ct: 10,
    fj: 3600,
    g: 0.2,
    trace: 'T2',
    conv: 'C1',
    agent: '',
    version: 1,
  },
  {
    id: 'r4',
    host: 'h3',
    zone: 'FR',
    model: 'n',
    t: H2,
    pt: 20,
    ct: 300,
    fj: 3600,
    g: 0.9,
    trace: '',
    conv: '',
    agent: '',
    version: 1,
  },
];

export const VIEW_INSERTS: string[] = [
  `INSERT INTO request_energy (request_id, host, facility, region, zone, model, tenant, status, gpus, t_start_ms, t_end_ms, prompt_tokens, completion_tokens, accelerator_dynamic_j, accelerator_idle_j, host_dynamic_j, host_idle_j, it_j, overhead_j, facility_j, estimated_j, embodied_g, co2e_location_g, co2e_market_g, water_l, ci_source, share_model, flags, version, method_version, trace_id, conversation_id, agent_name) VALUES ${VIEW_ROWS.map(
    (r) =>
      `(${quote(r.id)}, ${quote(r.host)}, 'f', 'eu', ${quote(r.zone)}, ${quote(r.model)}, 't', 'ok', [0], ${r.t}, ${r.t + 1000}, ${r.pt}, ${r.ct}, 0, 0, 0, 0, ${r.fj}, 0, ${r.fj}, 0, 0, ${r.g}, NULL, NULL, 'annual', 'phase', [], ${r.version}, 'jsm-1.0', ${quote(r.trace)}, ${quote(r.conv)}, ${quote(r.agent)})`,
  ).join(', ')}`,
  `INSERT INTO host_info (host, facility, accelerator, gpu_count, version) VALUES ('h1', 'f', 'nvidia-a100-sxm4-80gb', 8, 1), ('h2', 'f', 'nvidia-h100-sxm5-80gb', 8, 1), ('h2', 'f', 'stale', 8, 0)`,
];

type Rows = Record<string, unknown>[];
const near = (a: unknown, b: number, what: string) =>
  assert.ok(Math.abs(Number(a) - b) < 1e-9, `${what}: ${String(a)} != ${b}`);

/** The queries whose results `checkViews` asserts, in the order it reads them. */
export function viewQueries(): Record<string, string> {
  const m: Filters = { models: ['m'] };
  return {
    runs: 'SELECT * FROM v_agent_runs ORDER BY trace_id',
    conversations: 'SELECT * FROM v_conversations',
    hardware: 'SELECT * FROM v_hardware_by_model ORDER BY model, accelerator',
    hours: 'SELECT * FROM v_hour_of_day_zone ORDER BY zone, hour_of_day',
    lengths: 'SELECT * FROM v_energy_by_length ORDER BY model, prompt_bucket, completion_bucket',
    counterfactual: 'SELECT * FROM v_cleaner_counterfactual ORDER BY model, zone, hour_of_day',
    reportRuns: agentRuns({}),
    reportRunsLate: agentRuns({ fromMs: H15 }),
    callsPerRun: callsPerRun({}),
    agentSummary: agentSummary({}),
    reportConversations: conversations({}),
    reportHardwareM: hardwareByModel(m),
    reportHours: hourOfDayByZone({}),
    reportLengths: energyByLength({}),
    reportCounterfactual: cleanerCounterfactual({}),
    cleanerSummary: cleanerSummary({}),
    scatter: whVsTokens({}),
  };
}

/** What the views must give for VIEW_ROWS, worked out by hand from the rows above. */
export function checkViews(get: (name: string) => Rows): void {
  // Runs: T1 = r1 on h1 and h2 (one call, 3600 + 1800 J) + r2 (7200 J, the latest version).
  const runs = get('runs');
  assert.equal(runs.length, 2);
  const t1 = runs[0]!;
  assert.equal(t1.trace_id, 'T1');
  assert.equal(Number(t1.calls), 2);
  assert.deepEqual(t1.hosts, ['h1', 'h2']);
  assert.equal(Number(t1.hosts_count), 2);
  near(t1.wh, (3600 + 1800 + 7200) / 3600, 'T1 Wh');
  near(t1.co2e_location_g, 0.3 + 0.1 + 0.5, 'T1 g');
  assert.equal(Number(t1.prompt_tokens), 100 + 300); // r1's tokens once, not once per host
  assert.equal(t1.conversation_id, 'C1');
  assert.equal(t1.agent_name, 'planner');
  assert.deepEqual(
    get('reportRuns').map((r) => r.trace_id),
    ['T1', 'T2'],
  ); // by CO2e, descending
  // From 15:00 only r2 and r3 remain: T1 has one call left.
  const late = get('reportRunsLate');
  assert.equal(Number(late.find((r) => r.trace_id === 'T1')!.calls), 1);
  const [c1] = get('conversations');
  assert.equal(c1!.conversation_id, 'C1');
  assert.equal(Number(c1!.runs), 2);
  assert.equal(Number(c1!.calls), 3);
  near(c1!.wh, (3600 + 1800 + 7200 + 3600) / 3600, 'C1 Wh');
  assert.deepEqual(
    get('reportConversations').map((r) => Number(r.calls)),
    [3],
  );
  assert.deepEqual(
    get('callsPerRun').map((r) => [Number(r.calls), Number(r.runs)]),
    [
      [1, 1],
      [2, 1],
    ],
  );
  const agents = get('agentSummary');
  assert.deepEqual(
    agents.map((a) => a.agent),
    ['(none)', 'planner'],
  );
  near(agents[1]!.calls_per_run, 2, 'planner calls per run');
  // Hardware: h1 (A100) served r1 and r3, h2 (H100) r1 and r2, h3 is in no host_info row.
  const hw = get('hardware');
  assert.deepEqual(
    hw.map((r) => [r.model, r.accelerator, Number(r.queries)]),
    [
      ['m', 'nvidia-a100-sxm4-80gb', 2],
      ['m', 'nvidia-h100-sxm5-80gb', 2],
      ['n', 'unknown', 1],
    ],
  );
  near(hw[0]!.wh_per_query, 1, 'A100 Wh/query');
  near(hw[1]!.wh_per_query, (1800 + 7200) / 3600 / 2, 'H100 Wh/query');
  near(hw[1]!.wh_per_1k_tokens, (1800 + 7200) / 3.6 / (150 + 500), 'H100 Wh/1k tokens');
  near(hw[1]!.g_co2e_per_1k_tokens, ((0.1 + 0.5) * 1000) / 650, 'H100 g/1k tokens');
  near(hw[1]!.wh_per_query_p10, 0.5, 'H100 p10');
  near(hw[1]!.wh_per_query_p90, 2, 'H100 p90');
  assert.deepEqual(
    get('reportHardwareM').map((r) => r.accelerator),
    ['nvidia-a100-sxm4-80gb', 'nvidia-h100-sxm5-80gb'],
  );
  // Hour of day: FR at 02:00 has r1@h1 and r4: (0.3 + 0.9) g / 2 queries; 600 g/kWh.
  const hours = get('hours');
  const fr2 = hours.find((r) => r.zone === 'FR' && Number(r.hour_of_day) === 2)!;
  assert.equal(Number(fr2.queries), 2);
  near(fr2.g_co2e_per_query, 0.6, 'FR 02h g/query');
  near(fr2.g_per_kwh, (1.2 * 3.6e6) / 7200, 'FR 02h g/kWh');
  assert.equal(hours.length, 4);
  assert.deepEqual(
    get('reportHours').map((r) => [r.zone, Number(r.hour_of_day)]),
    [
      ['DE', 2],
      ['DE', 15],
      ['FR', 2],
      ['FR', 15],
    ],
  );
  // Lengths: r3 has 1000 prompt tokens -> bucket 512; r2 300/200 -> 256/128; r1 (2 rows) 100/50 -> 0/0.
  const lengths = get('lengths');
  assert.deepEqual(
    lengths.map((r) => [r.model, Number(r.prompt_bucket), Number(r.completion_bucket), Number(r.queries)]),
    [
      ['m', 0, 0, 2],
      ['m', 256, 128, 1],
      ['m', 512, 0, 1],
      ['n', 0, 256, 1],
    ],
  );
  assert.equal(get('reportLengths').length, 4);
  // Counterfactual: model m's 1.125 Wh/query priced with DE at 15:00 (0.5 g / 2 Wh = 250 g/kWh).
  const cf = get('counterfactual');
  assert.equal(cf.length, 2 * 4); // every model x every (zone, hour) in the data
  const mDe15 = cf.find((r) => r.model === 'm' && r.zone === 'DE' && Number(r.hour_of_day) === 15)!;
  near(mDe15.wh_per_query, 16200 / 3600 / 4, 'm Wh/query');
  near(mDe15.g_per_kwh, 250, 'DE 15h g/kWh');
  near(mDe15.counterfactual_g_per_query, (1.125 / 1000) * 250, 'm at DE 15h');
  near(mDe15.actual_g_per_query, (0.3 + 0.1 + 0.5 + 0.2) / 4, 'm actual');
  assert.equal(get('reportCounterfactual').length, 8);
  const [sm] = get('cleanerSummary');
  assert.equal(sm!.model, 'm');
  near(sm!.cleanest_g_per_query, (1.125 / 1000) * 200, 'cleanest');
  assert.equal(sm!.dirtiest_zone, 'FR');
  assert.equal(Number(sm!.dirtiest_hour_utc), 2);
  const scatter = get('scatter');
  assert.equal(scatter.length, 5);
  assert.ok(
    scatter.some(
      (p) => p.accelerator === 'nvidia-h100-sxm5-80gb' && Number(p.tokens) === 500 && Number(p.wh) === 2,
    ),
  );
}
