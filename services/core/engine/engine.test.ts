import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { HostEngine } from './engine.ts';
import { emptyEmissions, type Emissions, type LedgerRow, type RequestRow } from './emissions.ts';
import { neededUntilMs } from './retention.ts';
import { firstNeeded } from '../offsets/commit-point.ts';
import { smallFleet, smallSettings } from '../small-fleet.ts';
import type { PowerSample, RequestLog } from '../types.ts';

const req = (o: Partial<RequestLog> & Pick<RequestLog, 'requestId' | 'tStartMs' | 'tEndMs'>): RequestLog => ({
  host: 'h',
  gpus: [],
  model: 'm',
  tenant: 't',
  status: 'ok',
  tFirstTokenMs: null,
  promptTokens: null,
  completionTokens: null,
  ...o,
});
const reading = (
  tMs: number,
  powerW: number,
  device = '0',
  role: PowerSample['role'] = 'accelerator',
): PowerSample => ({
  kind: 'reading',
  host: 'h',
  role,
  device,
  tMs,
  powerW,
  averagingMs: 1000,
});

type Rec = { kind: 'r'; r: RequestLog } | { kind: 'p'; p: PowerSample };

/** Feeds records in the given order, advancing after each, then closes everything with heartbeats. */
function run(records: readonly Rec[], endMs: number, gpus = 1, settings = smallSettings()): Emissions {
  const j = new HostEngine(smallFleet({ gpus }).hosts.get('h')!, smallFleet({ gpus }), settings);
  const out = emptyEmissions();
  for (const rec of records) {
    if (rec.kind === 'r') j.addRequest(rec.r, 0, out);
    else j.addPower(rec.p, 0, out);
    j.advance(0, out);
  }
  j.addHeartbeat({ host: 'h', stream: 'requests', tMs: endMs }, 0);
  j.addHeartbeat({ host: 'h', stream: 'power', tMs: endMs }, 0);
  j.advance(0, out);
  return out;
}

/** The latest version of every row, as ClickHouse's FINAL would return it. */
function final(out: Emissions): { requests: Map<string, RequestRow>; ledger: Map<string, LedgerRow> } {
  const requests = new Map<string, RequestRow>();
  for (const r of out.requests) {
    const prev = requests.get(r.requestId);
    if (!prev || r.version >= prev.version) requests.set(r.requestId, r);
  }
  const ledger = new Map<string, LedgerRow>();
  for (const l of out.ledger) {
    const k = `${l.group}@${l.windowStartMs}`;
    const prev = ledger.get(k);
    if (!prev || l.version >= prev.version) ledger.set(k, l);
  }
  return { requests, ledger };
}

test('golden fixture: hand-checked rows', () => {
  const fx = JSON.parse(readFileSync(new URL('../fixtures/golden-basic.json', import.meta.url), 'utf8')) as {
    power: { tMs: number; powerW: number }[];
    requests: { requestId: string; tStartMs: number; tEndMs: number }[];
    expected: { requests: Record<string, Record<string, number | string>>; ledger: Record<string, number>[] };
  };
  const out = run(
    [
      ...fx.power.map((p) => ({ kind: 'p' as const, p: reading(p.tMs, p.powerW) })),
      ...fx.requests.map((r) => ({ kind: 'r' as const, r: req(r) })),
    ],
    4000,
  );
  const f = final(out);
  for (const [id, exp] of Object.entries(fx.expected.requests)) {
    const row = f.requests.get(id);
    assert.ok(row, `row for ${id}`);
    for (const [k, v] of Object.entries(exp)) {
      const got: unknown = row[k as keyof RequestRow];
      if (typeof v === 'number')
        assert.ok(
          Math.abs((got as number) - v) <= 1e-9 * Math.max(1, Math.abs(v)),
          `${id}.${k}: ${String(got)} != ${v}`,
        );
      else assert.equal(got, v);
    }
  }
  for (const exp of fx.expected.ledger) {
    const row = f.ledger.get(`accelerator@${exp.windowStartMs}`);
    assert.ok(row);
    for (const [k, v] of Object.entries(exp))
      assert.ok(Math.abs((row[k as keyof LedgerRow] as number) - v) < 1e-9, `${k}@${exp.windowStartMs}`);
  }
});

test('a request arriving after its windows closed corrects them with a higher version', () => {
  // Windows 0 and 1 close with only A; then B arrives for window 1, within the horizon.
  const settings = smallSettings();
  const fleet = smallFleet();
  const j = new HostEngine(fleet.hosts.get('h')!, fleet, settings);
  const o = emptyEmissions();
  for (const t of [1000, 2000, 3000, 4000]) j.addPower(reading(t, 150), 0, o);
  j.addRequest(req({ requestId: 'A', tStartMs: 0, tEndMs: 2000 }), 0, o);
  j.addHeartbeat({ host: 'h', stream: 'requests', tMs: 3000 }, 0);
  j.advance(0, o);
  const before = final(o).requests.get('A')!;
  j.addRequest(req({ requestId: 'B', tStartMs: 1000, tEndMs: 2000 }), 0, o);
  // Corrections come out at the next advance, once per window however many records touched it.
  j.addPower(reading(2000, 150), 0, o); // a replayed sample for the same window
  assert.equal(o.corrections, 0);
  j.advance(0, o);
  assert.equal(o.corrections, 1);
  const after = final(o);
  assert.ok(after.requests.get('A')!.version > before.version);
  assert.ok(after.requests.get('A')!.itJ < before.itJ);
  assert.ok(after.requests.get('B'));
  assert.ok(Math.abs(after.requests.get('A')!.itJ + after.requests.get('B')!.itJ - 300) < 1e-9);
});

test('records older than the horizon go to the late list, not into state', () => {
  const fleet = smallFleet();
  const j = new HostEngine(fleet.hosts.get('h')!, fleet, smallSettings({ horizonMs: 5000 }));
  const o = emptyEmissions();
  for (let t = 1000; t <= 20_000; t += 1000) j.addPower(reading(t, 100), 0, o);
  j.addHeartbeat({ host: 'h', stream: 'requests', tMs: 20_000 }, 0);
  j.advance(0, o);
  j.addRequest(req({ requestId: 'old', tStartMs: 1000, tEndMs: 2000 }), 0, o);
  assert.equal(o.late.length, 1);
  assert.match(o.late[0]!.reason, /horizon/);
});

test('a replayed request is a duplicate; the same id with other content is a conflict', () => {
  const fleet = smallFleet();
  const j = new HostEngine(fleet.hosts.get('h')!, fleet, smallSettings());
  const o = emptyEmissions();
  const r = req({ requestId: 'A', tStartMs: 0, tEndMs: 1000 });
  j.addRequest(r, 0, o);
  j.addRequest({ ...r }, 0, o);
  j.addRequest({ ...r, tEndMs: 1500 }, 0, o);
  assert.equal(o.duplicates, 1);
  assert.equal(o.conflicts.length, 1);
});

const recordsArbOf = (o: { minPowers: number; maxPowers: number; minReqs: number; maxStartMs: number }) =>
  fc
    .record({
      powers: fc.array(fc.double({ min: 0, max: 700, noNaN: true }), {
        minLength: o.minPowers,
        maxLength: o.maxPowers,
      }),
      reqs: fc.array(
        fc.record({
          start: fc.integer({ min: 0, max: o.maxStartMs }),
          len: fc.integer({ min: 0, max: 6000 }),
          gpu: fc.integer({ min: -1, max: 1 }),
          p: fc.option(fc.integer({ min: 0, max: 4000 })),
          c: fc.integer({ min: 0, max: 500 }),
          ftFrac: fc.option(fc.double({ min: 0, max: 1, noNaN: true })),
        }),
        { minLength: o.minReqs, maxLength: 12 },
      ),
    })
    .map(({ powers, reqs }) => {
      const recs: Rec[] = [];
      powers.forEach((w, i) => {
        recs.push({ kind: 'p', p: reading((i + 1) * 1000, w, '0') });
        recs.push({ kind: 'p', p: reading((i + 1) * 1000, w / 2, '1') });
        recs.push({ kind: 'p', p: reading((i + 1) * 1000, w / 3, 'node', 'node') });
      });
      reqs.forEach((q, i) => {
        const ft = q.ftFrac === null ? null : q.start + Math.floor(q.ftFrac * q.len);
        recs.push({
          kind: 'r',
          r: req({
            requestId: `r${i}`,
            tStartMs: q.start,
            tEndMs: q.start + q.len,
            gpus: q.gpu < 0 ? [] : [q.gpu],
            promptTokens: q.p,
            completionTokens: q.p === null ? null : q.c,
            tFirstTokenMs: q.p === null ? null : ft,
          }),
        });
      });
      return { recs, end: (powers.length + 2) * 1000 };
    });
const recordsArb = recordsArbOf({ minPowers: 5, maxPowers: 20, minReqs: 0, maxStartMs: 15_000 });
/** Longer feeds, with requests through them, so that they span several horizons of 5 s. */
const longRecordsArb = recordsArbOf({ minPowers: 15, maxPowers: 25, minReqs: 4, maxStartMs: 22_000 });

test('property (invariant 1): every ledger row conserves energy to 1e-9 relative', () => {
  fc.assert(
    fc.property(recordsArb, fc.constantFrom('proportional', 'separate'), ({ recs, end }, idlePolicy) => {
      const out = run(recs, end + 30_000, 2, smallSettings({ idlePolicy: idlePolicy }));
      assert.ok(out.ledger.length > 0);
      for (const l of out.ledger) {
        const err = Math.abs(l.attributedJ + l.unattributedJ - l.measuredJ);
        assert.ok(err <= 1e-9 * Math.max(l.measuredJ, 1e-9), `window ${l.windowStartMs} ${l.group}: ${err}`);
        assert.ok(l.attributedJ >= -1e-12 && l.unattributedJ >= -1e-9);
      }
      // And the request rows add up to what the ledger says was attributed.
      const f = final(out);
      let attributed = 0;
      for (const l of f.ledger.values()) attributed += l.attributedJ;
      let rows = 0;
      for (const r of f.requests.values()) rows += r.itJ;
      assert.ok(Math.abs(attributed - rows) <= 1e-9 * Math.max(attributed, 1), `${attributed} vs ${rows}`);
    }),
    { numRuns: Number(process.env.FC_RUNS ?? 150) },
  );
});

test('property (invariant 2): any arrival order within the horizon gives the same final rows', () => {
  const strip = (m: Map<string, RequestRow | LedgerRow>) =>
    [...m.entries()].sort().map(([k, v]) => {
      // Versions count the records behind a row, so they too are independent of arrival order.
      const { flags: _f, ...rest } = v;
      return [
        k,
        Object.fromEntries(
          Object.entries(rest).map(([a, b]) => [a, typeof b === 'number' ? Number(b.toPrecision(10)) : b]),
        ),
      ];
    });
  fc.assert(
    fc.property(recordsArb, fc.integer(), ({ recs, end }, seed) => {
      const shuffled = fc.sample(
        fc.shuffledSubarray(recs, { minLength: recs.length, maxLength: recs.length }),
        { seed, numRuns: 1 },
      )[0]!;
      // The watermark is driven by the data; with zero out-of-orderness, reordering makes records
      // late for windows that already closed, which is exactly what corrections must absorb.
      const a = final(run(recs, end + 30_000, 2));
      const b = final(run(shuffled, end + 30_000, 2));
      assert.deepEqual(strip(b.requests), strip(a.requests));
      assert.deepEqual(strip(b.ledger), strip(a.ledger));
    }),
    { numRuns: Number(process.env.FC_RUNS ?? 150) },
  );
});

test('power watermarks are kept per source: a fast GPU collector does not close windows a slow RAPL one still feeds', () => {
  const fleet = smallFleet({ gpus: 1 });
  const j = new HostEngine(fleet.hosts.get('h')!, fleet, smallSettings());
  const out = emptyEmissions();
  const gpu = (t: number): PowerSample => ({ ...reading(t, 300), source: 'nvml' });
  const cpu = (t: number, e: number): PowerSample => ({
    kind: 'counter',
    host: 'h',
    role: 'cpu',
    device: 'package-0',
    tMs: t,
    energyJ: e,
    rangeJ: null,
    source: 'rapl',
  });
  j.addRequest(req({ requestId: 'a', tStartMs: 0, tEndMs: 10_000 }), 0, out);
  j.addHeartbeat({ host: 'h', stream: 'requests', tMs: 20_000 }, 0);
  j.addPower(cpu(0, 0), 0, out);
  j.addPower(cpu(1000, 100), 0, out);
  // The GPU collector races ten seconds ahead and vouches for its own source.
  for (let t = 1000; t <= 10_000; t += 1000) j.addPower(gpu(t), 0, out);
  j.addHeartbeat({ host: 'h', stream: 'power', tMs: 10_000, source: 'nvml' }, 0);
  j.advance(0, out);
  const closed = new Set(out.ledger.map((l) => l.windowStartMs));
  assert.ok(closed.size <= 1, `only the window RAPL covers may close, closed ${[...closed].join(',')}`);
  // RAPL catches up: no correction is needed, every window closes once, CPU energy is in the ledger.
  for (let t = 2000; t <= 10_000; t += 1000) j.addPower(cpu(t, (t / 1000) * 100), 0, out);
  j.addHeartbeat({ host: 'h', stream: 'power', tMs: 10_000, source: 'rapl' }, 0);
  j.advance(0, out);
  assert.equal(out.corrections, 0);
  const cpuRows = out.ledger.filter((l) => l.group === 'cpu');
  assert.equal(cpuRows.length, new Set(cpuRows.map((l) => l.windowStartMs)).size);
  assert.ok(cpuRows.length >= 8);
  for (const l of cpuRows)
    assert.ok(Math.abs(l.measuredJ - 100) < 1e-9, `${l.windowStartMs}: ${l.measuredJ}`);
  // A heartbeat without a source speaks for every source (older collectors, end of a replay).
  j.addHeartbeat({ host: 'h', stream: 'power', tMs: 30_000 }, 0);
  j.addHeartbeat({ host: 'h', stream: 'requests', tMs: 30_000 }, 0);
  j.advance(0, out);
  assert.ok(Math.max(...out.ledger.map((l) => l.windowStartMs)) >= 25_000);
});

test('property (restart): replaying from the production commit point after a crash leaves the stored rows of a clean run', () => {
  // What ClickHouse keeps: the highest version per key; on a tie, the later insert.
  const store = (emissions: Emissions[]) => {
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
  };
  // The data spans more than H (up to 22 s of power against H = 5 s), so the commit point moves.
  const settings = smallSettings({ horizonMs: 5000, gaps: { maxGapMs: 2000, maxHoldMs: 3000 } });
  let moved = 0;
  let runs = 0;
  fc.assert(
    fc.property(
      longRecordsArb,
      fc.double({ min: 0.3, max: 1, noNaN: true }),
      ({ recs: unordered, end }, crashAt) => {
        runs++;
        // In the order collectors send them: a request when it ends, a sample when it is taken.
        const at = (r: Rec) => (r.kind === 'r' ? r.r.tEndMs : r.p.tMs);
        const recs = [...unordered].sort((a, b) => at(a) - at(b));
        const clean = final(run(recs, end + 30_000, 2, settings));
        // First life: consume up to the crash, then die; what it emitted is in ClickHouse.
        const fleet = smallFleet({ gpus: 2 });
        const j = new HostEngine(fleet.hosts.get('h')!, fleet, settings);
        const first = emptyEmissions();
        const crash = Math.floor(crashAt * recs.length);
        for (const rec of recs.slice(0, crash)) {
          if (rec.kind === 'r') j.addRequest(rec.r, 0, first);
          else j.addPower(rec.p, 0, first);
          j.advance(0, first);
        }
        // The joiner's committed offset, from the production rule.
        const tracked = recs.slice(0, crash).map((rec, offset) => ({
          offset,
          host: 'h',
          neededUntilMs: neededUntilMs(
            settings,
            rec.kind === 'r' ? { kind: 'request', record: rec.r } : { kind: 'power', record: rec.p },
          ),
        }));
        const commit = firstNeeded(tracked, 0, () => j.neededFromMs());
        if (commit > 0) moved++;
        // Second life: a fresh engine re-reads from there to the end.
        const second = run(recs.slice(commit), end + 30_000, 2, settings);
        const stored = store([first, second]);
        const strip = (m: Map<string, RequestRow | LedgerRow>) =>
          [...m.entries()].sort().map(([k, v]) => [k, { ...v, flags: [] }]);
        assert.deepEqual(strip(stored.ledger), strip(clean.ledger));
        assert.deepEqual(strip(stored.requests), strip(clean.requests));
      },
    ),
    { numRuns: Number(process.env.FC_RUNS ?? 150) },
  );
  // Many runs must commit past something, or the property proves nothing about the commit point.
  assert.ok(moved > runs / 5, `the commit point moved in ${moved} of ${runs} runs`);
});
