// `npm run bench`: throughput, latency and memory of the whole pipeline on the native stack, beside
// the ceilings of its parts measured in the same run on the same topics. Prints a table and writes
// JSON (default bench-results.json). Not part of the test command.
//
//   npm run bench -- [--hosts 12] [--seconds 30] [--rps 2] [--scales 1,4,16] [--latency] [--profile]
//
// Input: a simulated fleet of 8-GPU hosts (one 8B instance per GPU) serving the Azure LLM trace
// (conversation, time-compressed to --rps requests/s per GPU), GPU power at 10 Hz per GPU.

import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Kafka } from 'kafkajs';
import { AvroCodec } from '../adapters/avro.ts';
import {
  createClickHouse,
  insertRows,
  ledgerRowToDb,
  migrate,
  requestRowToDb,
} from '../adapters/clickhouse.ts';
import { loadFleet } from '../adapters/fleet-file.ts';
import { HostEngine } from '../core/engine/engine.ts';
import { emptyEmissions } from '../core/engine/emissions.ts';
import {
  validateFrameEntry,
  validateFrameHead,
  validateHeartbeat,
  validatePower,
  validateRequest,
} from '../core/validate.ts';
import type { PowerSampleWire } from '../adapters/avro.ts';
import { frameMessages } from '../adapters/power-frames.ts';
import { platformaticRawRate } from './platformatic-raw.ts';
import { toSample } from '../joiner/routing.ts';
import { Interner, shareRequestStrings } from '../core/intern.ts';
import {
  createKafka,
  ensureTopics,
  Publisher,
  topicsFor,
  type OutMessage,
  type Topics,
} from '../adapters/kafka.ts';
import { createLogger } from '../adapters/logger.ts';
import { loadConfig, type Env } from '../config/config.ts';
import type { RequestRow } from '../core/engine/emissions.ts';
import { kill, sleep, startJoiner, type JoinerProcess } from '../chaos/scenario.ts';
import { nativeStackUp } from '../chaos/native-stack.ts';
import { llama8b, scheduleRequests, simulatePower, type SimRequest } from '../sim/fleet-sim.ts';
import { parseTrace } from '../sim/trace.ts';
import { fleetYaml, gpuReadingWire, hostName, metricsOf } from './common.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PARTITIONS = 4;

interface Input {
  topics: Topics;
  requests: number;
  samples: number;
  records: number;
  hosts: number;
  fleetFile: string;
}

/** Generates the fleet's records for `seconds` from t0 and publishes them; returns counts. */
async function produce(
  kafka: Kafka,
  topics: Topics,
  hosts: number,
  seconds: number,
  rps: number,
  t0: number,
  pace: ((tMs: number) => Promise<void>) | null,
  frames: boolean,
): Promise<{ requests: number; samples: number; powerRecords: number; produceS: number }> {
  const codec = new AvroCodec();
  const trace = parseTrace(
    readFileSync(join(ROOT, 'data/azure-llm-inference-2023/AzureLLMInferenceTrace_conv.csv'), 'utf8'),
  );
  const names = Array.from({ length: hosts }, (_, i) => hostName(i));
  const instances = names.flatMap((h) => Array.from({ length: 8 }, (_, g) => llama8b(h, g)));
  // Compress the trace so the fleet sees `rps` requests per second per GPU.
  const wanted = Math.ceil(instances.length * rps * seconds);
  // The trace is tiled (each repeat shifted by its span) when the fleet needs more requests than it has.
  const traceSpan = trace[trace.length - 1]!.arrivalMs - trace[0]!.arrivalMs + 1000;
  const rows = Array.from({ length: wanted }, (_, i) => {
    const r = trace[i % trace.length]!;
    return { ...r, arrivalMs: r.arrivalMs + Math.floor(i / trace.length) * traceSpan };
  });
  const span = rows[rows.length - 1]!.arrivalMs - rows[0]!.arrivalMs;
  const compress = Math.max(1, span / (seconds * 1000));
  const requests = scheduleRequests(rows, instances, t0, compress, 7).filter(
    (r) => r.tEndMs < t0 + seconds * 1000,
  );
  // Power at 10 Hz per GPU: 100 ms averages; with frames, one record per host and poll (issue 16).
  const byTick = new Map<number, PowerSampleWire[]>();
  let samples = 0;
  simulatePower(requests, instances, { idleW: 70, maxW: 700 }, t0, t0 + seconds * 1000, 100, (k, t, w) => {
    const inst = instances[k]!;
    const tick = t + 100;
    let list = byTick.get(tick);
    if (!list) byTick.set(tick, (list = []));
    list.push(gpuReadingWire(inst.host, inst.gpus[0]!, tick, w, 100));
    samples++;
  });
  let powerRecords = 0;
  const powerMessages = (list: PowerSampleWire[]): OutMessage[] => {
    const m = frames
      ? frameMessages(codec, list)
      : list.map((x) => ({ key: x.host, value: codec.encode('power', x) }));
    powerRecords += m.length;
    return m;
  };
  const byEnd = [...requests].sort((a, b) => a.tEndMs - b.tEndMs);
  const wire = ({ instance: _i, trueDynamicJ: _t, ...r }: SimRequest) => r;
  const publisher = new Publisher(kafka);
  await publisher.connect();
  const started = Date.now();
  let ri = 0;
  const ticks = [...byTick.keys()].sort((a, b) => a - b);
  for (let i = 0; i < ticks.length; i += pace ? 1 : 10) {
    const until = ticks[Math.min(i + (pace ? 0 : 9), ticks.length - 1)]!;
    if (pace) await pace(until);
    const reqs: OutMessage[] = [];
    while (ri < byEnd.length && byEnd[ri]!.tEndMs <= until) {
      const q = byEnd[ri++]!;
      reqs.push({ key: q.host, value: codec.encode('request', wire(q)) });
    }
    const power: OutMessage[] = [];
    for (let j = i; j < Math.min(i + (pace ? 1 : 10), ticks.length); j++)
      power.push(...powerMessages(byTick.get(ticks[j]!)!));
    await Promise.all([publisher.send(topics.requests, reqs), publisher.send(topics.power, power)]);
  }
  const tEnd = t0 + seconds * 1000 + 10_000;
  for (const stream of ['requests', 'power'] as const)
    await publisher.send(
      stream === 'requests' ? topics.requests : topics.power,
      names.map((h) => ({ key: h, value: codec.encode('heartbeat', { host: h, stream, tMs: tEnd }) })),
    );
  await publisher.disconnect();
  return { requests: requests.length, samples, powerRecords, produceS: (Date.now() - started) / 1000 };
}

/** Ceiling: kafkajs reading the input topics with no processing at all. */
async function rawConsume(
  kafka: Kafka,
  topics: Topics,
  total: number,
): Promise<{ rate: number; flow: number; batches: Buffer[][] }> {
  const consumer = kafka.consumer({
    groupId: `bench-raw-${randomBytes(4).toString('hex')}`,
    maxBytesPerPartition: 4 << 20,
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [topics.requests, topics.power], fromBeginning: true });
  // Every record's value, in the batches and the order kafkajs handed them over.
  const batches: Buffer[][] = [];
  const progress: [number, number][] = [];
  let n = 0;
  // From the moment the group is joined: the same start as the joiner's first fetch.
  let first = 0;
  consumer.on(consumer.events.GROUP_JOIN, () => {
    first = Date.now();
    progress.push([first, 0]);
  });
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  await consumer.run({
    eachBatch: async ({ batch }) => {
      n += batch.messages.length;
      batches.push(batch.messages.map((m) => m.value ?? Buffer.alloc(0)));
      progress.push([Date.now(), n]);
      if (n >= total) done();
      await Promise.resolve();
    },
  });
  await finished;
  const s = (Date.now() - first) / 1000;
  await consumer.disconnect();
  return { rate: n / s, flow: flowRate(progress, total), batches };
}

/**
 * Records/s from the group join to the last record consumed. kafkajs fetches, decompresses and decodes
 * whole fetch responses (up to 10 MB of compressed records) before its first eachBatch, so the time
 * from the first record to the last leaves most of the reading out; the join is the common start.
 * Unlike the joiner's whole run, this leaves out the tail after the last record: its last windows
 * closing and their rows landing. Points are [wall ms, records consumed so far], the first at the join.
 */
function flowRate(points: [number, number][], total: number): number {
  const join = points[0];
  const last = points.find(([, n]) => n >= total);
  if (!join || !last || last[0] <= join[0]) return NaN;
  return total / ((last[0] - join[0]) / 1000);
}

/**
 * Ceiling: the joiner's own work on one core, in memory, with no Kafka and no ClickHouse: decode,
 * validate, the attribution engine (advanced after every fetched batch, as the joiner does), and the
 * rows encoded as the insert body. Each stage is timed cumulatively, so the differences are the cost
 * of each step per record. Each stage is the best of three runs.
 */
function engineRates(batches: Buffer[][], fleetFile: string, env: Env): Record<string, number> {
  const config = loadConfig(env);
  const fleet = loadFleet(fleetFile);
  const clock = { maxPastMs: 7 * 86_400_000, maxFutureMs: 5 * 60_000 };
  const records = batches.reduce((a, b) => a + b.length, 0);
  const run = (stage: 'decode' | 'engine' | 'rows'): number => {
    const codec = new AvroCodec();
    const strings = new Interner();
    const hosts = new Map<string, HostEngine>();
    const host = (id: string) => {
      let h = hosts.get(id);
      if (!h) hosts.set(id, (h = new HostEngine(fleet.hosts.get(id)!, fleet, config.joiner)));
      return h;
    };
    let sink = 0;
    const t0 = process.hrtime.bigint();
    for (const batch of batches) {
      const now = Date.now();
      const out = emptyEmissions();
      const touched = new Set<HostEngine>();
      for (const v of batch) {
        const d = codec.decode(v);
        if (stage === 'decode') continue;
        if (d.kind === 'request') {
          if (validateRequest(d.value, fleet, now, clock)) continue;
          shareRequestStrings(d.value, strings);
          const h = host(d.value.host);
          h.addRequest(d.value, now, out);
          touched.add(h);
        } else if (d.kind === 'power') {
          const smp = toSample(d.value, strings);
          if (typeof smp === 'string' || validatePower(smp, fleet, now, clock)) continue;
          const h = host(smp.host);
          h.addPower(smp, now, out);
          touched.add(h);
        } else if (d.kind === 'frame') {
          const f = d.value;
          if (validateFrameHead(f, fleet, now, clock)) continue;
          if (f.entries.some((e) => validateFrameEntry(f.host, e, fleet))) continue;
          f.host = strings.get(f.host);
          const h = host(f.host);
          h.addFrame(f, now, out);
          touched.add(h);
        } else if (d.kind === 'heartbeat') {
          if (validateHeartbeat(d.value, fleet, now, clock)) continue;
          const h = host(d.value.host);
          h.addHeartbeat(d.value, now);
          touched.add(h);
        }
      }
      for (const h of touched) h.advance(now, out);
      if (stage === 'rows')
        for (const r of [...out.requests.map(requestRowToDb), ...out.ledger.map(ledgerRowToDb)])
          sink += JSON.stringify(r).length;
    }
    if (sink < 0) throw new Error('unreachable');
    return records / (Number(process.hrtime.bigint() - t0) / 1e9);
  };
  // Best of three: the machine is shared, and the slowest runs measure the neighbours.
  const best = (stage: 'decode' | 'engine' | 'rows') => Math.max(run(stage), run(stage), run(stage));
  return { decode: best('decode'), engine: best('engine'), rows: best('rows') };
}

/** Ceiling: inserting attributed request rows alone (the joiner's batch size and concurrency). */
async function insertRate(env: Env, rows: number): Promise<number> {
  const config = loadConfig(env);
  const ch = createClickHouse(config.clickhouse, config.clickhouse.writer, config.clickhouse.database);
  const row = (i: number): RequestRow => ({
    requestId: `r${i}`,
    host: `b-${i % 100}`,
    facility: 'bench',
    region: 'eu-west',
    zone: 'FR',
    model: 'llama-3.1-8b',
    tenant: 'acme',
    status: 'ok',
    gpus: [i % 8],
    tStartMs: 1_700_000_000_000 + i,
    tEndMs: 1_700_000_001_000 + i,
    promptTokens: 1000,
    completionTokens: 200,
    acceleratorDynamicJ: 100,
    acceleratorIdleJ: 50,
    hostDynamicJ: 10,
    hostIdleJ: 5,
    itJ: 165,
    overheadJ: 33,
    facilityJ: 198,
    estimatedJ: 0,
    embodiedG: 0.01,
    co2eLocationG: 0.003,
    co2eMarketG: null,
    waterL: null,
    ciSource: 'annual',
    shareModel: 'phase',
    kappa: 0.1,
    acceleratorDynamicLoJ: 90,
    acceleratorDynamicHiJ: 110,
    facilityLoJ: 183,
    facilityHiJ: 213,
    co2eLocationLoG: 0.0028,
    co2eLocationHiG: 0.0032,
    flags: [],
    version: 1,
    methodVersion: 'jsm-1.0',
  });
  const all = Array.from({ length: rows }, (_, i) => requestRowToDb(row(i)));
  const batch = config.joiner.maxBatchRows;
  const t0 = Date.now();
  const parts = [];
  for (let i = 0; i < all.length; i += batch) parts.push(all.slice(i, i + batch));
  for (let i = 0; i < parts.length; i += config.joiner.insertConcurrency)
    await Promise.all(
      parts.slice(i, i + config.joiner.insertConcurrency).map((p) => insertRows(ch, 'request_energy', p)),
    );
  const rate = rows / ((Date.now() - t0) / 1000);
  await ch.close();
  return rate;
}

interface E2E {
  joiners: number;
  seconds: number;
  recordsPerS: number;
  /** Records/s from the group join to the last record consumed. */
  flowPerS: number;
  requestsPerS: number;
  samplesPerS: number;
  rowsPerS: number;
  peakRssMb: number;
  peakHeapMb: number;
  stateMb: number;
}

/** The joiner(s) from the beginning of the topics until every record is consumed and every row is in. */
async function endToEnd(base: Env, input: Input, joiners: number, profileDir: string | null): Promise<E2E> {
  const id = randomBytes(3).toString('hex');
  const env: Env = {
    ...base,
    CLICKHOUSE_DATABASE: `${base.CLICKHOUSE_DATABASE!}_e2e${joiners}_${id}`,
    JOULESTREAM_GROUP_ID: `${base.JOULESTREAM_GROUP_ID!}-e2e${joiners}-${id}`,
    JOULESTREAM_FLEET: input.fleetFile,
  };
  await migrate(loadConfig(env).clickhouse);
  const reader = createClickHouse(
    loadConfig(env).clickhouse,
    loadConfig(env).clickhouse.reader,
    loadConfig(env).clickhouse.database,
  );
  const procs: JoinerProcess[] = [];
  const t0 = Date.now();
  const nodeArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  for (let i = 0; i < joiners; i++) procs.push(await startJoiner(env, nodeArgs));
  // Throughput counts from the group join (process start excluded, as for the raw ceiling) to the
  // last row landed.
  let firstMs = 0;
  let peakRss = 0;
  let peakHeap = 0;
  let state = 0;
  const progress: [number, number][] = [];
  for (;;) {
    const ms = await Promise.all(procs.map(metricsOf));
    const consumed = ms.reduce((a, m) => a + (m.get('joulestream_joiner_records_total') ?? 0), 0);
    // From the moment a joiner has joined the group: the same start as the raw ceiling's.
    if (firstMs === 0 && ms.some((m) => m.has('joulestream_joiner_assigned_partitions'))) {
      firstMs = Date.now();
      progress.push([firstMs, 0]);
    } else if (firstMs > 0) progress.push([Date.now(), consumed]);
    peakRss = Math.max(
      peakRss,
      ms.reduce((a, m) => a + (m.get('joulestream_process_rss_bytes') ?? 0), 0),
    );
    peakHeap = Math.max(
      peakHeap,
      ms.reduce((a, m) => a + (m.get('joulestream_process_heap_used_bytes') ?? 0), 0),
    );
    state = Math.max(
      state,
      ms.reduce((a, m) => a + (m.get('joulestream_joiner_state_bytes') ?? 0), 0),
    );
    if (consumed >= input.records) {
      const [r] = await (
        await reader.query({ query: 'SELECT count() AS n FROM request_energy', format: 'JSONEachRow' })
      ).json<{ n: string }>();
      if (Number(r!.n) >= input.requests * 0.999) break;
    }
    if (Date.now() - t0 > 20 * 60_000) throw new Error('the joiner did not finish within 20 minutes');
    await sleep(100);
  }
  const s = (Date.now() - firstMs) / 1000;
  await Promise.all(procs.map((p) => kill(p, 'SIGTERM')));
  await reader.close();
  return {
    joiners,
    seconds: s,
    recordsPerS: input.records / s,
    flowPerS: flowRate(progress, input.records),
    requestsPerS: input.requests / s,
    samplesPerS: input.samples / s,
    rowsPerS: input.requests / s,
    peakRssMb: peakRss / 1e6,
    peakHeapMb: peakHeap / 1e6,
    stateMb: state / 1e6,
  };
}

/** Where the joiner's CPU time went: self time by function, from its .cpuprofile. */
function profileSummary(dir: string, top = 12): { fn: string; selfPct: number }[] {
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) return [];
  const prof = JSON.parse(readFileSync(join(dir, file), 'utf8')) as {
    nodes: {
      id: number;
      hitCount: number;
      callFrame: { functionName: string; url: string; lineNumber: number };
    }[];
  };
  const total = prof.nodes.reduce((a, n) => a + n.hitCount, 0);
  const by = new Map<string, number>();
  for (const n of prof.nodes) {
    const url = n.callFrame.url.replace(/^.*\/(node_modules\/[^/]+|services)\//, '$1/');
    const k = `${n.callFrame.functionName || '(anonymous)'} ${url}:${n.callFrame.lineNumber + 1}`;
    by.set(k, (by.get(k) ?? 0) + n.hitCount);
  }
  return [...by.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([fn, hits]) => ({ fn, selfPct: (100 * hits) / total }));
}

/** Latency from a request's end (producer clock) to its row being visible, with input fed live at `rate`. */
async function latency(
  base: Env,
  kafka: Kafka,
  hosts: number,
  seconds: number,
  rps: number,
  frames: boolean,
): Promise<{ p50: number; p99: number; max: number; n: number }> {
  const id = randomBytes(3).toString('hex');
  const prefix = `${base.KAFKA_TOPIC_PREFIX!}lat${id}.`;
  const fleetFile = join(tmpdir(), `bench-fleet-${hosts}.yaml`);
  writeFileSync(fleetFile, fleetYaml(hosts));
  const env: Env = {
    ...base,
    KAFKA_TOPIC_PREFIX: prefix,
    CLICKHOUSE_DATABASE: `${base.CLICKHOUSE_DATABASE!}_lat${id}`,
    JOULESTREAM_GROUP_ID: `${base.JOULESTREAM_GROUP_ID!}-lat${id}`,
    JOULESTREAM_FLEET: fleetFile,
  };
  const config = loadConfig(env);
  await migrate(config.clickhouse);
  const topics = topicsFor(prefix);
  await ensureTopics(kafka, topics, PARTITIONS);
  const proc = await startJoiner(env);
  await sleep(3000);
  const reader = createClickHouse(config.clickhouse, config.clickhouse.reader, config.clickhouse.database);
  const seen = new Set<string>();
  const lat: number[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const now = Date.now();
      const rows = await (
        await reader.query({
          query: `SELECT request_id, t_end_ms FROM request_energy WHERE t_end_ms > ${now - 120_000}`,
          format: 'JSONEachRow',
        })
      ).json<{ request_id: string; t_end_ms: string }>();
      for (const r of rows)
        if (!seen.has(r.request_id)) {
          seen.add(r.request_id);
          lat.push(now - Number(r.t_end_ms));
        }
      await sleep(200);
    }
  })();
  const t0 = Date.now() + 1000;
  await produce(
    kafka,
    topics,
    hosts,
    seconds,
    rps,
    t0,
    async (tMs) => {
      const wait = tMs - Date.now();
      if (wait > 0) await sleep(wait);
    },
    frames,
  );
  await sleep(15_000);
  polling = false;
  await poller;
  await kill(proc, 'SIGTERM');
  await reader.close();
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN;
  return { p50: q(0.5), p99: q(0.99), max: lat[lat.length - 1] ?? NaN, n: lat.length };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      hosts: { type: 'string', default: '12' },
      seconds: { type: 'string', default: '30' },
      rps: { type: 'string', default: '2' },
      scales: { type: 'string', default: '1,4' },
      latency: { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      out: { type: 'string', default: 'bench-results.json' },
      // Joiner settings compared one after the other on the same topics, e.g.
      // --compare JOULESTREAM_PREFETCH_BATCHES=0,JOULESTREAM_PREFETCH_BATCHES=1 (one joiner each).
      compare: { type: 'string', default: '' },
      // Skip the two-joiner group (0) to shorten a comparison run.
      group: { type: 'string', default: '2' },
      // How power goes on the wire: frames (one record per host and poll) or samples (one per GPU,
      // the shape before issue 16), so both can be measured on the same input.
      power: { type: 'string', default: 'frames' },
    },
  });
  if (values.power !== 'frames' && values.power !== 'samples')
    throw new Error(`--power takes frames or samples, not ${values.power}`);
  const frames = values.power === 'frames';
  const hosts = Number(values.hosts);
  const seconds = Number(values.seconds);
  const rps = Number(values.rps);
  const scales = values.scales.split(',').map(Number);
  const stack = await nativeStackUp();
  const id = randomBytes(3).toString('hex');
  const base: Env = {
    ...process.env,
    ...stack,
    CLICKHOUSE_DATABASE: `js_bench_${id}`,
    KAFKA_TOPIC_PREFIX: `js-bench-${id}.`,
    JOULESTREAM_GROUP_ID: `js-bench-${id}`,
    LOG_LEVEL: 'warn',
  };
  const kafka = createKafka(loadConfig(base).kafka, createLogger('bench', 'error'));
  const machine = `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB`;
  const say = (s: string) => process.stderr.write(`[bench] ${s}\n`);
  const results: Record<string, unknown> = {
    machine,
    hosts,
    seconds,
    rps,
    power: values.power,
    partitions: PARTITIONS,
    runs: [],
  };
  const lines: string[] = [];
  for (const scale of scales) {
    const n = hosts * scale;
    const prefix = `${base.KAFKA_TOPIC_PREFIX!}x${scale}.`;
    const topics = topicsFor(prefix);
    await ensureTopics(kafka, topics, PARTITIONS);
    const fleetFile = join(tmpdir(), `bench-fleet-${n}.yaml`);
    writeFileSync(fleetFile, fleetYaml(n));
    say(`${scale}x: ${n} hosts × 8 GPUs, ${seconds} s at 10 Hz: producing`);
    const t0 = Math.floor((Date.now() - (seconds + 120) * 1000) / 1000) * 1000;
    const p = await produce(kafka, topics, n, seconds, rps, t0, null, frames);
    const input: Input = {
      topics,
      requests: p.requests,
      samples: p.samples,
      records: p.requests + p.powerRecords + 2 * n,
      hosts: n,
      fleetFile,
    };
    say(
      `${input.records} records (${p.requests} requests, ${p.samples} samples in ${p.powerRecords} power records) in ${p.produceS.toFixed(1)} s; raw consumption`,
    );
    const raw = await rawConsume(kafka, topics, input.records);
    const platformatic = await platformaticRawRate(
      loadConfig(base).kafka.brokers,
      [topics.requests, topics.power],
      input.records,
    );
    say(`raw consumption, @platformatic/kafka (yardstick): ${platformatic.toFixed(0)}/s`);
    const envX: Env = { ...base, KAFKA_TOPIC_PREFIX: prefix };
    const engine = engineRates(raw.batches, fleetFile, envX);
    const decode = engine.decode!;
    await migrate(loadConfig(envX).clickhouse);
    const insert = scale === scales[0] ? await insertRate(envX, 200_000) : NaN;
    say(
      `ceilings: consume ${raw.rate.toFixed(0)}/s; in memory: decode ${decode.toFixed(0)}/s, + engine ${engine.engine!.toFixed(0)}/s, + rows ${engine.rows!.toFixed(0)}/s${Number.isNaN(insert) ? '' : `, insert ${insert.toFixed(0)} rows/s`}; joiner ×1`,
    );
    const profDir =
      values.profile && scale === scales[scales.length - 1] ? join(ROOT, 'bench-profile') : null;
    if (profDir) {
      rmSync(profDir, { recursive: true, force: true });
      mkdirSync(profDir, { recursive: true });
    }
    const one = await endToEnd(envX, input, 1, profDir);
    say(
      `joiner ×1: ${one.flowPerS.toFixed(0)} records/s join to last record, ${one.recordsPerS.toFixed(0)} whole run`,
    );
    const two = values.group === '0' ? null : await endToEnd(envX, input, 2, null);
    const compared: { setting: string; flowPerS: number; ofRaw: number; wholePerS: number }[] = [];
    for (const setting of values.compare.split(',').filter(Boolean)) {
      const m = /^(JOULESTREAM_[A-Z_]+|NODE_OPTIONS)=(\S*)$/.exec(setting);
      if (!m)
        throw new Error(`--compare takes JOULESTREAM_NAME=value or NODE_OPTIONS=flag[,...], not ${setting}`);
      const r = await endToEnd({ ...envX, [m[1]!]: m[2]! }, input, 1, null);
      compared.push({
        setting,
        flowPerS: r.flowPerS,
        ofRaw: r.flowPerS / raw.flow,
        wholePerS: r.recordsPerS,
      });
      say(
        `${setting}: ${r.flowPerS.toFixed(0)} records/s join to last record (${((100 * r.flowPerS) / raw.flow).toFixed(0)} % of raw), ${r.recordsPerS.toFixed(0)} whole run`,
      );
    }
    const run = {
      scale,
      hosts: n,
      input,
      produceRate: input.records / p.produceS,
      raw: raw.rate,
      platformatic,
      decode,
      engine,
      insert,
      one,
      two,
      compared,
      profile: profDir ? profileSummary(profDir) : [],
    };
    (results.runs as unknown[]).push(run);
    // Reading and working on one thread cost one after the other: the bound for one joiner process.
    const oneCore = 1 / (1 / raw.flow + 1 / engine.rows!);
    const pct = (a: number, b: number) => `${a.toFixed(0)} (${((100 * a) / b).toFixed(0)} %)`;
    lines.push(
      `| ${scale}x | ${n} | ${input.records} | ${raw.flow.toFixed(0)} / ${raw.rate.toFixed(0)} | ${platformatic.toFixed(0)} | ${decode.toFixed(0)} / ${engine.engine!.toFixed(0)} / ${engine.rows!.toFixed(0)} | ${oneCore.toFixed(0)} (${((100 * oneCore) / raw.flow).toFixed(0)} %) | ${Number.isNaN(insert) ? '–' : insert.toFixed(0)} | ${pct(one.flowPerS, raw.flow)} | ${pct(one.recordsPerS, raw.rate)} | ${two ? pct(two.flowPerS, raw.flow) : '–'} | ${one.rowsPerS.toFixed(0)} | ${one.peakHeapMb.toFixed(0)} / ${one.peakRssMb.toFixed(0)} | ${((one.stateMb * 1e6) / n / 1e6).toFixed(2)} |`,
    );
  }
  console.log(
    `machine: ${machine}; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(
        ' ',
      )} at the end; ${PARTITIONS} partitions; input ${seconds} s of event time, 10 Hz power per GPU as ${values.power}, ${rps} req/s per GPU\n`,
  );
  console.log(
    '| load | hosts | records | raw consume rec/s, join to last record / whole | @platformatic/kafka raw rec/s (join to last record) | in memory rec/s: decode / + engine / + rows | one-thread bound rec/s (of raw) | CH insert rows/s | joiner ×1 rec/s join to last record (of raw) | joiner ×1 whole run (of raw) | joiner ×2 join to last record (of raw) | rows/s landed ×1 | peak heap / RSS MB ×1 | state MB per host |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const l of lines) console.log(l);
  for (const r of results.runs as {
    scale: number;
    compared: { setting: string; flowPerS: number; ofRaw: number; wholePerS: number }[];
  }[])
    for (const c of r.compared)
      console.log(
        `${r.scale}x, joiner ×1 with ${c.setting}: ${c.flowPerS.toFixed(0)} records/s join to last record (${(100 * c.ofRaw).toFixed(0)} % of raw), ${c.wholePerS.toFixed(0)} whole run`,
      );
  const last = (results.runs as { profile: { fn: string; selfPct: number }[] }[]).at(-1);
  if (last && last.profile.length > 0) {
    console.log('\nwhere the joiner’s CPU time goes (self time, largest load):');
    for (const p of last.profile) console.log(`  ${p.selfPct.toFixed(1).padStart(5)} %  ${p.fn}`);
  }
  if (values.latency) {
    const max = (results.runs as { one: E2E; hosts: number }[])[0]!;
    for (const share of [0.5, 0.9]) {
      // The sustained maximum in requests+samples per second, scaled by hosts at the same per-host load.
      const perHost = max.one.recordsPerS / max.hosts;
      // Records per host and second: 10 power frames (or 80 samples) and 8 GPUs' requests.
      const perHostS = (frames ? 10 : 80) + 8 * rps;
      const h = Math.max(1, Math.round((share * perHost * max.hosts) / perHostS));
      say(`latency at ${share * 100} % of the maximum: ${h} hosts fed live`);
      const l = await latency(base, kafka, h, Math.min(seconds, 30), rps, frames);
      results[`latency${share * 100}`] = { hosts: h, ...l };
      console.log(
        `latency at ${share * 100} % of max (${h} hosts live): p50 ${(l.p50 / 1000).toFixed(2)} s, p99 ${(l.p99 / 1000).toFixed(2)} s, max ${(l.max / 1000).toFixed(2)} s over ${l.n} requests`,
      );
    }
  }
  writeFileSync(values.out, JSON.stringify(results, null, 2) + '\n');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`[bench] ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
