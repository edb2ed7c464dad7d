// Regression tests for the edges of the horizon (issue 13): each reproduces a way rows in ClickHouse
// came out wrong or lost, in-process, with the production engine and commit point.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostEngine } from './engine.ts';
import { emptyEmissions, type Emissions, type LedgerRow, type RequestRow } from './emissions.ts';
import { firstNeeded, type TrackedRecord } from '../offsets/commit-point.ts';
import { neededUntilMs } from './retention.ts';
import { smallFleet, smallSettings } from '../small-fleet.ts';
import type { Heartbeat, PowerSample, RequestLog } from '../types.ts';

const req = (requestId: string, tStartMs: number, tEndMs: number): RequestLog => ({
  requestId,
  host: 'h',
  gpus: [],
  model: 'm',
  tenant: 't',
  status: 'ok',
  tStartMs,
  tEndMs,
  tFirstTokenMs: null,
  promptTokens: null,
  completionTokens: null,
});
const reading = (tMs: number, powerW: number): PowerSample => ({
  kind: 'reading',
  host: 'h',
  role: 'accelerator',
  device: '0',
  tMs,
  powerW,
  averagingMs: 1000,
});

type Rec = { kind: 'r'; r: RequestLog } | { kind: 'p'; p: PowerSample } | { kind: 'hb'; hb: Heartbeat };

// H = 10 s, maxHold = 5 s, 1 s windows: the feed of the issue.
const settings = smallSettings({ horizonMs: 10_000, gaps: { maxGapMs: 2000, maxHoldMs: 5000 } });
const fleet = smallFleet();
const engine = () => new HostEngine(fleet.hosts.get('h')!, fleet, settings);

function feed(j: HostEngine, rec: Rec, out: Emissions): void {
  if (rec.kind === 'r') j.addRequest(rec.r, 0, out);
  else if (rec.kind === 'p') j.addPower(rec.p, 0, out);
  else j.addHeartbeat(rec.hb, 0);
  j.advance(0, out);
}

const tracked = (rec: Rec, offset: number): TrackedRecord => ({
  offset,
  host: 'h',
  neededUntilMs: neededUntilMs(
    settings,
    rec.kind === 'r'
      ? { kind: 'request', record: rec.r }
      : rec.kind === 'p'
        ? { kind: 'power', record: rec.p }
        : { kind: 'heartbeat', tMs: rec.hb.tMs },
  ),
});

/**
 * One 8 s request from 2 s to 10 s, power every second, and short requests that move the request
 * watermark (no request heartbeats, as from the OTLP receiver); each logged when it ends.
 */
function issueFeed(): Rec[] {
  const recs: Rec[] = [{ kind: 'r', r: req('early', 0, 300) }];
  for (let t = 1000; t <= 24_000; t += 1000) {
    recs.push({ kind: 'p', p: reading(t, 100 + ((t / 1000) % 7) * 30) });
    if (t === 10_000) recs.push({ kind: 'r', r: req('long', 2000, 10_000) });
    if (t >= 11_000) recs.push({ kind: 'r', r: req(`s${t}`, t - 600, t) });
  }
  return recs;
}
const lateSample: Rec = { kind: 'p', p: reading(9500, 400) };
const closeAll: Rec[] = [
  { kind: 'hb', hb: { host: 'h', stream: 'requests', tMs: 60_000 } },
  { kind: 'hb', hb: { host: 'h', stream: 'power', tMs: 60_000 } },
];

function run(recs: readonly Rec[]): Emissions {
  const j = engine();
  const out = emptyEmissions();
  for (const r of recs) feed(j, r, out);
  return out;
}

/** What ClickHouse keeps: the highest version per key; on a tie, the later insert. */
function store(emissions: Emissions[]): {
  requests: Map<string, RequestRow>;
  ledger: Map<string, LedgerRow>;
} {
  const requests = new Map<string, RequestRow>();
  const ledger = new Map<string, LedgerRow>();
  for (const e of emissions) {
    for (const r of e.requests) {
      const prev = requests.get(r.requestId);
      if (!prev || r.version >= prev.version) requests.set(r.requestId, r);
    }
    for (const l of e.ledger) {
      const k = `${l.group}@${l.windowStartMs}`;
      const prev = ledger.get(k);
      if (!prev || l.version >= prev.version) ledger.set(k, l);
    }
  }
  return { requests, ledger };
}

const near = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b));

test('regression 1: a restart from the commit point keeps a long request a later correction reaches', () => {
  // Offsets in consumption order: the feed, then (after the crash) the late sample and the end.
  const recs = [...issueFeed()];
  const j = engine();
  const first = emptyEmissions();
  let crash = 0;
  while (j.openWindowStartMs() < 19_000 || Number.isNaN(j.openWindowStartMs()))
    feed(j, recs[crash++]!, first);
  const log = [...recs.slice(0, crash), lateSample, ...recs.slice(crash), ...closeAll];
  // Requests and power are two topics, each with its own committed offset (one partition each).
  const topicOf = (r: Rec) =>
    r.kind === 'r' || (r.kind === 'hb' && r.hb.stream === 'requests') ? 'requests' : 'power';
  const offsets = new Map<Rec, number>();
  const perTopic = { requests: [] as Rec[], power: [] as Rec[] };
  for (const r of log) {
    offsets.set(r, perTopic[topicOf(r)].length);
    perTopic[topicOf(r)].push(r);
  }
  const consumed = log.slice(0, crash);
  const commitOf = (topic: 'requests' | 'power'): number => {
    const mine = consumed.filter((r) => topicOf(r) === topic);
    const idx = firstNeeded(
      mine.map((r) => tracked(r, offsets.get(r)!)),
      0,
      () => j.neededFromMs(),
    );
    return idx < mine.length ? offsets.get(mine[idx]!)! : mine.length;
  };
  const commit = { requests: commitOf('requests'), power: commitOf('power') };
  // The second life re-reads each topic from its commit point, in the same interleaving.
  const second = run(log.filter((r) => offsets.get(r)! >= commit[topicOf(r)]));
  const clean = store([run(log)]);
  const stored = store([first, second]);
  const long = stored.requests.get('long')!;
  assert.ok(
    near(long.itJ, clean.requests.get('long')!.itJ),
    `long: ${long.itJ} J, clean ${clean.requests.get('long')!.itJ} J`,
  );
  assert.equal(long.version, clean.requests.get('long')!.version);
  const w9 = stored.ledger.get('accelerator@9000')!;
  const cleanW9 = clean.ledger.get('accelerator@9000')!;
  assert.equal(w9.activeRequests, cleanW9.activeRequests);
  assert.ok(
    near(w9.attributedJ, cleanW9.attributedJ),
    `window 9: ${w9.attributedJ} J, clean ${cleanW9.attributedJ} J`,
  );
  assert.equal(w9.version, cleanW9.version);
  assert.ok(commit.requests > 0, 'the commit point of the requests moved past some records');
  const longAt = perTopic.requests.findIndex((r) => r.kind === 'r' && r.r.requestId === 'long');
  assert.ok(
    commit.requests <= longAt,
    `committed past the long request (offset ${longAt}) to ${commit.requests}`,
  );
});

test('regression 2: a correction re-emits a request that started behind the horizon whole, with a higher version', () => {
  const recs = issueFeed();
  const j = engine();
  const out = emptyEmissions();
  let i = 0;
  while (j.openWindowStartMs() < 19_000 || Number.isNaN(j.openWindowStartMs())) feed(j, recs[i++]!, out);
  const rest = [lateSample, ...recs.slice(i), ...closeAll];
  for (const r of rest) feed(j, r, out);
  const rows = out.requests.filter((r) => r.requestId === 'long');
  assert.ok(rows.length >= 2, 'the correction re-emitted the request');
  const last = rows[rows.length - 1]!;
  for (const r of rows.slice(0, -1))
    assert.ok(last.version > r.version, `version ${last.version} <= ${r.version}`);
  // All its energy: the same row as a run in which the sample came in time.
  const inOrder: Rec[] = [];
  for (const r of recs) {
    if (r.kind === 'p' && r.p.tMs === 10_000) inOrder.push(lateSample);
    inOrder.push(r);
  }
  const clean = store([run([...inOrder, ...closeAll])]).requests.get('long')!;
  assert.ok(near(last.itJ, clean.itJ), `${last.itJ} J, in order ${clean.itJ} J`);
  assert.equal(last.version, clean.version);
  // And the request table agrees with the ledger the correction wrote.
  const final = store([out]);
  let attributed = 0;
  for (const l of final.ledger.values()) attributed += l.attributedJ;
  let rowsJ = 0;
  for (const r of final.requests.values()) rowsJ += r.itJ;
  assert.ok(near(rowsJ, attributed), `${rowsJ} J in request rows, ${attributed} J attributed`);
});

test('regression 3: while its partition has lag, a host waits for data, not for the wall clock', () => {
  // A backlog read topic by topic: all of the power first, then the requests, the wall clock
  // moving a second per record, far past the idle timeout.
  const s = smallSettings({ horizonMs: 10_000, idleTimeoutMs: 5000 });
  const recs = issueFeed();
  const power = recs.filter((r) => r.kind === 'p');
  const requests = recs.filter((r) => r.kind === 'r');
  const live = emptyEmissions();
  const jl = new HostEngine(fleet.hosts.get('h')!, fleet, s);
  for (const r of [...recs, ...closeAll]) {
    if (r.kind === 'r') jl.addRequest(r.r, 0, live);
    else if (r.kind === 'p') jl.addPower(r.p, 0, live);
    else jl.addHeartbeat(r.hb, 0);
    jl.advance(0, live, 0);
  }
  const j = new HostEngine(fleet.hosts.get('h')!, fleet, s);
  const out = emptyEmissions();
  let wallMs = 0;
  for (const r of [...power, ...requests]) {
    wallMs += 1000;
    if (r.kind === 'r') j.addRequest(r.r, wallMs, out);
    else if (r.kind === 'p') j.addPower(r.p, wallMs, out);
    // The partition is behind its high watermark: not caught up.
    j.advance(wallMs, out, null);
  }
  for (const r of closeAll) if (r.kind === 'hb') j.addHeartbeat(r.hb, wallMs);
  j.advance(wallMs, out, wallMs);
  assert.equal(out.late.length, 0, `late: ${out.late.map((l) => l.reason).join('; ')}`);
  assert.equal(out.corrections, live.corrections);
  assert.deepEqual(
    [...store([out]).requests.values()].map((r) => [r.requestId, r.itJ, r.version]).sort(),
    [...store([live]).requests.values()].map((r) => [r.requestId, r.itJ, r.version]).sort(),
  );
});
