// Power frames (issue 16): the Avro round trip, old single-sample records still read, per-entry
// validation, and the rows a frame gives against the same samples sent one record per device.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { AvroCodec, type PowerSampleWire } from '../adapters/avro.ts';
import { framesOf, samplesOf } from '../adapters/power-frames.ts';
import { emptyEmissions, type Emissions } from '../core/engine/emissions.ts';
import { Interner } from '../core/intern.ts';
import { smallFleet, smallSettings } from '../core/small-fleet.ts';
import type { PowerFrame } from '../core/types.ts';
import { HostRegistry } from './host-registry.ts';
import { Partitions } from './partitions.ts';
import { route, type InputRecord, type RoutingPorts } from './routing.ts';

const T0 = 1_700_000_000_000;
const codec = new AvroCodec();
const GPUS = 4;
const fleet = smallFleet({ hosts: ['h1', 'h2'], gpus: GPUS });
const settings = smallSettings({ horizonMs: 10_000, idleTimeoutMs: 5000 });
const TOPICS = { requests: 'req', power: 'pow' };

interface Rig {
  ports: RoutingPorts;
  partitions: Partitions;
  hosts: HostRegistry;
  out: Emissions;
  dead: { reason: string; error: string; rec: InputRecord }[];
}

function rig(): Rig {
  const partitions = new Partitions();
  const hosts = new HostRegistry(fleet, settings, partitions, [TOPICS.requests, TOPICS.power]);
  const dead: Rig['dead'] = [];
  const ports: RoutingPorts = {
    codec,
    fleet,
    bounds: { maxPastMs: 7 * 86_400_000, maxFutureMs: 5 * 60_000 },
    strings: new Interner(),
    settings,
    engine: (h) => hosts.engine(h),
    deadLetter: (reason, error, rec) => dead.push({ reason, error, rec }),
  };
  return { ports, partitions, hosts, out: emptyEmissions(), dead };
}

/** Routes records one by one on one partition per topic, as the consumer loop hands them over. */
function feed(r: Rig, recs: { topic: string; value: Buffer }[], nowMs: number): void {
  const offsets = new Map<string, number>();
  for (const { topic, value } of recs) {
    const offset = offsets.get(topic) ?? 0;
    offsets.set(topic, offset + 1);
    const rec = { topic, partition: 0, offset, key: null, value };
    const routed = route(rec, r.ports, nowMs, nowMs, r.out);
    r.partitions.track(topic, 0).push(offset, routed?.host ?? null, routed?.neededUntilMs ?? 0);
    if (routed) r.hosts.seenOn(routed.host, 0);
  }
  for (const [topic, n] of offsets) r.partitions.noteLag(topic, 0, n, nowMs);
  r.hosts.advance(null, nowMs, r.out);
}

const sample = (
  host: string,
  device: string,
  tMs: number,
  kind: 'counter' | 'reading',
  v: number,
): PowerSampleWire => ({
  host,
  role: 'accelerator',
  device,
  tMs,
  kind,
  energyJ: kind === 'counter' ? v : null,
  rangeJ: null,
  powerW: kind === 'reading' ? v : null,
  averagingMs: kind === 'reading' ? 1000 : null,
  source: 'nvml',
});

const requestValue = (host: string, id: string, t0: number, t1: number, gpus: number[]) =>
  codec.encode('request', {
    requestId: id,
    host,
    gpus,
    model: 'm',
    tenant: 't',
    status: 'ok',
    tStartMs: t0,
    tEndMs: t1,
    tFirstTokenMs: null,
    promptTokens: null,
    completionTokens: null,
  });

const heartbeats = (tMs: number) =>
  ['h1', 'h2'].flatMap((host) => [
    { topic: TOPICS.power, value: codec.encode('heartbeat', { host, stream: 'power', tMs }) },
    { topic: TOPICS.requests, value: codec.encode('heartbeat', { host, stream: 'requests', tMs }) },
  ]);

/** Rows as comparable values: every version, in emission order. */
const rowsOf = (out: Emissions) => ({
  requests: out.requests.map((r) => JSON.stringify(r)),
  ledger: out.ledger.map((l) => JSON.stringify(l)),
  late: out.late.length,
  duplicates: out.duplicates,
});

const frameArb: fc.Arbitrary<PowerFrame> = fc.record({
  host: fc.string({ maxLength: 20 }),
  source: fc.constantFrom('nvml', 'dcgm', 'rapl', 'redfish'),
  tMs: fc.integer({ min: 0, max: 2 ** 50 }),
  entries: fc.array(
    fc.record({
      role: fc.constantFrom('accelerator', 'cpu', 'dram', 'node'),
      device: fc.string({ minLength: 1, maxLength: 8 }),
      kind: fc.constantFrom('counter', 'reading'),
      value: fc.double({ noNaN: true }),
      rangeJ: fc.option(fc.double({ min: 1, max: 1e12, noNaN: true }), { nil: null }),
      averagingMs: fc.option(fc.integer({ min: 0, max: 60_000 }), { nil: null }),
    }),
    { maxLength: 16 },
  ),
});

test('a frame survives the Avro round trip and decodes as a frame', () => {
  fc.assert(
    fc.property(frameArb, (f) => {
      const d = codec.decode(codec.encode('frame', f));
      assert.equal(d.kind, 'frame');
      // avsc decodes into its record classes; structuredClone compares the data (keeps -0, Infinity).
      assert.deepEqual(structuredClone(d.value), structuredClone(f));
    }),
  );
});

test('single-sample power records still decode as they were written', () => {
  const s = sample('h1', '0', T0, 'counter', 123.5);
  assert.deepEqual(structuredClone(codec.decode(codec.encode('power', s))), { kind: 'power', value: s });
  // And framesOf / samplesOf are inverse: a frame stands for exactly its samples.
  const ss = [
    sample('h1', '0', T0, 'counter', 1),
    sample('h1', '1', T0, 'counter', 2),
    sample('h1', '0', T0 + 100, 'counter', 3),
  ];
  const frames = framesOf(ss);
  assert.equal(frames.length, 2);
  assert.deepEqual(frames.flatMap(samplesOf), ss);
});

test('frames and per-device records give identical rows (property)', () => {
  fc.assert(
    fc.property(
      fc.constantFrom<'counter' | 'reading'>('counter', 'reading'),
      fc.array(fc.array(fc.double({ min: 0, max: 700, noNaN: true }), { minLength: GPUS, maxLength: GPUS }), {
        minLength: 5,
        maxLength: 30,
      }),
      fc.integer({ min: 200, max: 2000 }),
      fc.array(
        fc.tuple(
          fc.integer({ min: 0, max: 20_000 }),
          fc.integer({ min: 1, max: 8000 }),
          fc.integer({ min: 0, max: GPUS - 1 }),
        ),
        {
          maxLength: 12,
        },
      ),
      (kind, powers, periodMs, reqs) => {
        // Per GPU, counters integrate the power drawn; readings report it.
        const acc = new Array<number>(GPUS).fill(0);
        const samples: PowerSampleWire[] = [];
        for (const h of ['h1', 'h2'])
          powers.forEach((row, k) =>
            row.forEach((w, g) => {
              if (h === 'h1') acc[g]! += (w * periodMs) / 1000;
              samples.push(sample(h, String(g), T0 + k * periodMs, kind, kind === 'counter' ? acc[g]! : w));
            }),
          );
        const requests = reqs.map(([t0, dur, g], i) => ({
          topic: TOPICS.requests,
          value: requestValue('h1', `r${i}`, T0 + t0, T0 + t0 + dur, [g]),
        }));
        const end = T0 + powers.length * periodMs + 30_000;
        const single = rig();
        feed(
          single,
          [
            ...samples.map((s) => ({ topic: TOPICS.power, value: codec.encode('power', s) })),
            ...requests,
            ...heartbeats(end),
          ],
          end + 1000,
        );
        const framed = rig();
        const frames = framesOf(samples);
        assert.ok(frames.length * GPUS === samples.length, 'one frame per host and instant');
        feed(
          framed,
          [
            ...frames.map((f) => ({ topic: TOPICS.power, value: codec.encode('frame', f) })),
            ...requests,
            ...heartbeats(end),
          ],
          end + 1000,
        );
        assert.equal(single.dead.length, 0);
        assert.equal(framed.dead.length, 0);
        assert.deepEqual(rowsOf(framed.out), rowsOf(single.out));
        assert.ok(single.out.ledger.length > 0, 'windows closed');
      },
    ),
    { numRuns: 40 },
  );
});

test('a bad entry goes to the dead letters alone, with its reason; the rest of the frame is kept', () => {
  const good = [0, 1, 2, 3].map((g) => sample('h1', String(g), T0 + 1000, 'reading', 200));
  const bad: PowerFrame = {
    host: 'h1',
    source: 'nvml',
    tMs: T0 + 1000,
    entries: [
      ...framesOf(good.slice(0, 2))[0]!.entries,
      { role: 'accelerator', device: '9', kind: 'reading', value: 100, rangeJ: null, averagingMs: 1000 },
      ...framesOf(good.slice(2))[0]!.entries,
      {
        role: 'accelerator',
        device: '1',
        kind: 'reading',
        value: Number.NaN,
        rangeJ: null,
        averagingMs: 1000,
      },
    ],
  };
  const later = framesOf([0, 1, 2, 3].map((g) => sample('h1', String(g), T0 + 2000, 'reading', 300)))[0]!;
  const end = T0 + 40_000;
  const run = (first: PowerFrame) => {
    const r = rig();
    feed(
      r,
      [first, later]
        .map((f) => ({ topic: TOPICS.power, value: codec.encode('frame', f) }))
        .concat(heartbeats(end)),
      end,
    );
    return r;
  };
  const withBad = run(bad);
  assert.deepEqual(
    withBad.dead.map((d) => d.reason),
    ['invalid-field', 'invalid-power'],
  );
  assert.match(withBad.dead[0]!.error, /^frame entry 2: accelerator 9 does not exist/);
  // The dead letter carries the entry as the single-sample record it stands for, with the offset.
  const letter = codec.decode(withBad.dead[0]!.rec.value!);
  assert.equal(letter.kind, 'power');
  assert.equal(letter.kind === 'power' && letter.value.device, '9');
  assert.equal(withBad.dead[0]!.rec.offset, 0);
  const clean = run(framesOf(good)[0]!);
  assert.equal(clean.dead.length, 0);
  assert.deepEqual(rowsOf(withBad.out), rowsOf(clean.out));
  // A frame of an unknown host is rejected whole, once; an empty frame is not dropped silently.
  const r = rig();
  feed(
    r,
    [
      { ...later, host: 'nowhere' },
      { ...later, entries: [] },
    ].map((f) => ({ topic: TOPICS.power, value: codec.encode('frame', f) })),
    end,
  );
  assert.deepEqual(
    r.dead.map((d) => d.reason),
    ['unknown-host', 'invalid-field'],
  );
});
