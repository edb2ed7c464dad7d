// The joiner's record path in-process, without Kafka: routing, the host registry and the
// production engine, fed records as the consumer loop would hand them over.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AvroCodec } from '../adapters/avro.ts';
import { emptyEmissions, type Emissions, type RequestRow } from '../core/engine/emissions.ts';
import { Interner } from '../core/intern.ts';
import { smallFleet, smallSettings } from '../core/small-fleet.ts';
import type { RequestLog } from '../core/types.ts';
import { HostRegistry } from './host-registry.ts';
import { Partitions } from './partitions.ts';
import { route, type InputRecord, type RoutingPorts } from './routing.ts';

const T0 = 1_700_000_000_000;
const codec = new AvroCodec();
const fleet = smallFleet({ hosts: ['h1', 'h2'] });
const settings = smallSettings({ horizonMs: 10_000, idleTimeoutMs: 5000 });
const TOPICS = { requests: 'req', power: 'pow' };

const request = (host: string, id: string, t0: number, t1: number): RequestLog => ({
  requestId: id,
  host,
  gpus: [],
  model: 'm',
  tenant: 't',
  status: 'ok',
  tStartMs: T0 + t0,
  tEndMs: T0 + t1,
  tFirstTokenMs: null,
  promptTokens: null,
  completionTokens: null,
});
const power = (host: string, t: number, w: number): Buffer =>
  codec.encode('power', {
    host,
    role: 'accelerator',
    device: '0',
    tMs: T0 + t,
    kind: 'reading',
    energyJ: null,
    rangeJ: null,
    powerW: w,
    averagingMs: 1000,
    source: 'nvml',
  });

interface Rig {
  ports: RoutingPorts;
  partitions: Partitions;
  hosts: HostRegistry;
  out: Emissions;
  dead: { reason: string; rec: InputRecord }[];
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
    deadLetter: (reason, _error, rec) => dead.push({ reason, rec }),
  };
  return { ports, partitions, hosts, out: emptyEmissions(), dead };
}

/** Hands one batch over as the consumer loop does: route each record, note the lag, advance. */
function batch(
  r: Rig,
  topic: string,
  values: Buffer[],
  firstOffset: number,
  highWatermark: number,
  nowMs: number,
) {
  const track = r.partitions.track(topic, 0);
  values.forEach((value, i) => {
    const rec = { topic, partition: 0, offset: firstOffset + i, key: null, value };
    const routed = route(rec, r.ports, nowMs, nowMs, r.out);
    track.push(rec.offset, routed?.host ?? null, routed?.neededUntilMs ?? 0);
    if (routed) r.hosts.seenOn(routed.host, 0);
  });
  r.partitions.noteLag(topic, 0, highWatermark, nowMs);
  r.hosts.advance(null, nowMs, r.out);
}

test('routing: bad records go to the dead letters with their reason; good ones reach the engine', () => {
  const r = rig();
  const now = T0 + 60_000;
  const ok = codec.encode('request', request('h1', 'a', 0, 1000));
  const values = [
    ok,
    codec.encode('request', { ...request('h1', 'a', 0, 1000), tEndMs: T0 + 2000 }),
    codec.encode('request', request('nowhere', 'b', 0, 1000)),
    codec.encode('request', request('h1', 'c', 2000, 1000)),
    Buffer.from('not avro'),
    Buffer.alloc(70 * 1024, 1),
    codec.encode('heartbeat', { host: 'h1', stream: 'power', tMs: T0 }),
  ];
  batch(r, TOPICS.requests, values, 0, values.length, now);
  assert.deepEqual(
    r.dead.map((d) => [d.reason, d.rec.offset]),
    [
      ['conflicting-duplicate', 1],
      ['unknown-host', 2],
      ['end-before-start', 3],
      ['malformed-avro', 4],
      ['oversized', 5],
    ],
  );
  // Dead letters are tracked too (host null): the commit point may pass them.
  const track = r.partitions.track(TOPICS.requests, 0);
  assert.equal(track.records.length, values.length);
  assert.deepEqual(
    track.records.map((t) => t.host),
    ['h1', null, null, null, null, null, 'h1'],
  );
});

/** Two hosts, power every second and requests logged as they end, over 40 s (four horizons). */
function feed(): { requests: Buffer[]; power: Buffer[]; order: { topic: string; i: number; t: number }[] } {
  const requests: Buffer[] = [];
  const powerValues: Buffer[] = [];
  const order: { topic: string; i: number; t: number }[] = [];
  for (let t = 1000; t <= 40_000; t += 1000)
    for (const h of ['h1', 'h2']) {
      order.push({ topic: TOPICS.power, i: powerValues.length, t });
      powerValues.push(power(h, t, 100 + ((t / 1000) % 5) * 40));
      if (t % 3000 === 0) {
        order.push({ topic: TOPICS.requests, i: requests.length, t });
        requests.push(codec.encode('request', request(h, `${h}-${t}`, t - 2500, t)));
      }
    }
  for (const h of ['h1', 'h2'])
    for (const [topic, list] of [
      [TOPICS.requests, requests],
      [TOPICS.power, powerValues],
    ] as const) {
      order.push({ topic, i: list.length, t: 60_000 });
      list.push(
        codec.encode('heartbeat', {
          host: h,
          stream: topic === TOPICS.power ? 'power' : 'requests',
          tMs: T0 + 60_000,
        }),
      );
    }
  return { requests, power: powerValues, order };
}

const rows = (out: Emissions) => {
  const m = new Map<string, RequestRow>();
  for (const r of out.requests) if ((m.get(r.requestId)?.version ?? -1) <= r.version) m.set(r.requestId, r);
  return [...m.values()].map((r) => [r.requestId, Number(r.itJ.toPrecision(12)), r.version]).sort();
};

/** A backlog read topic by topic in batches of 10, the clock a second further per batch. */
function backlog(r: Rig, f: ReturnType<typeof feed>, lagKnown: boolean): void {
  let now = T0 + 120_000;
  // Without lag information both partitions look caught up from the start, as with the
  // wall-clock idleness of old.
  if (!lagKnown)
    for (const topic of [TOPICS.power, TOPICS.requests]) r.partitions.noteStartLag(topic, 0, 0, now);
  for (const [topic, list] of [
    [TOPICS.power, f.power],
    [TOPICS.requests, f.requests],
  ] as const)
    for (let i = 0; i < list.length; i += 10) {
      now += 1000;
      // Without lag information every batch looks caught up, as with the wall-clock idleness of old.
      const hw = lagKnown ? list.length : Math.min(i + 10, list.length);
      batch(r, topic, list.slice(i, i + 10), i, hw, now);
    }
}

test('a backlog catch-up gives no late records and no corrections a live run would not, and the rows of a live run', () => {
  const f = feed();
  // Live: records as they happen, the clock with event time, always caught up.
  const live = rig();
  const seen = { [TOPICS.requests]: 0, [TOPICS.power]: 0 };
  for (const o of f.order) {
    const list = o.topic === TOPICS.power ? f.power : f.requests;
    seen[o.topic]!++;
    batch(live, o.topic, [list[o.i]!], o.i, seen[o.topic]!, T0 + o.t + 200);
  }
  const caughtUp = rig();
  backlog(caughtUp, f, true);
  assert.equal(live.out.late.length, 0);
  assert.equal(caughtUp.out.late.length, 0, `late: ${caughtUp.out.late.length}`);
  assert.ok(
    caughtUp.out.corrections <= live.out.corrections,
    `${caughtUp.out.corrections} > ${live.out.corrections}`,
  );
  assert.deepEqual(rows(caughtUp.out), rows(live.out));
  assert.equal(rows(live.out).length, 2 * 13, 'every request has its row');
  // The same backlog judged by the clock alone (every batch taken as caught up) loses records:
  // the check above can fail.
  const byClock = rig();
  backlog(byClock, f, false);
  assert.ok(byClock.out.late.length > 0, 'wall-clock idleness made records late');
});
