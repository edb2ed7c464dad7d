// `npm run bench:memory`: the joiner's live memory (heap after a forced full GC, and RSS) against the
// number of hosts and the correction horizon H, over a run longer than H, so that it shows whether
// the state levels off. Runs on the native stack; not part of the test command.
//
//   npm run bench:memory -- [--hosts 100,1000] [--horizons 5,15] [--minutes 25] [--hz 1] [--rps 0.33]
//                            [--gc-every-s 2]
//
// Input: hosts of 8 GPUs (one 8B instance per GPU) serving the Azure LLM trace (conversation) at
// --rps requests/s per GPU, GPU power at --hz per GPU. It is generated and published in 10 s chunks of
// event time, oldest first, so a thousand hosts over 25 minutes never sit in the benchmark's memory.
// Each host count is published once and read by one joiner per horizon (own group and database).

import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Kafka } from 'kafkajs';
import { AvroCodec } from '../adapters/avro.ts';
import { migrate } from '../adapters/clickhouse.ts';
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
import { nativeStackUp } from '../chaos/native-stack.ts';
import { kill, sleep, startJoiner } from '../chaos/scenario.ts';
import { llama8b, scheduleRequests, simulatePower, type SimRequest } from '../sim/fleet-sim.ts';
import { parseTrace, type TraceRow } from '../sim/trace.ts';
import { readingMessage } from '../sim/wire.ts';
import { fleetYaml, gpuReading, hostName, metricsOf } from './common.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PARTITIONS = 4;
const CHUNK_MS = 10_000;
const HOST_COUNTERS = [
  ['cpu', 'package-0'],
  ['cpu', 'package-1'],
  ['dram', 'dram'],
] as const;

interface Published {
  records: number;
  requests: number;
  samples: number;
  produceS: number;
}

/** Publishes `minutes` of the fleet's event time, chunk by chunk; returns counts. */
async function publish(
  kafka: Kafka,
  topics: Topics,
  hosts: number,
  minutes: number,
  hz: number,
  rps: number,
  t0: number,
): Promise<Published> {
  const codec = new AvroCodec();
  const trace: TraceRow[] = parseTrace(
    readFileSync(join(ROOT, 'data/azure-llm-inference-2023/AzureLLMInferenceTrace_conv.csv'), 'utf8'),
  );
  const names = Array.from({ length: hosts }, (_, i) => hostName(i));
  const instances = names.flatMap((h) => Array.from({ length: 8 }, (_, g) => llama8b(h, g)));
  const seconds = minutes * 60;
  const tEnd = t0 + seconds * 1000;
  // The trace, tiled, compressed so the fleet sees `rps` requests/s per GPU.
  const traceSpan = trace[trace.length - 1]!.arrivalMs - trace[0]!.arrivalMs + 1000;
  const compress = (instances.length * rps * traceSpan) / (1000 * trace.length);
  const row = (i: number): TraceRow => {
    const r = trace[i % trace.length]!;
    return { ...r, arrivalMs: r.arrivalMs + Math.floor(i / trace.length) * traceSpan };
  };
  const stepMs = Math.round(1000 / hz);
  const wire = ({ instance: _i, trueDynamicJ: _t, ...r }: SimRequest) => r;
  const publisher = new Publisher(kafka);
  await publisher.connect();
  const started = Date.now();
  let next = 0;
  let live: SimRequest[] = [];
  let requests = 0;
  let samples = 0;
  for (let a = t0, chunk = 0; a < tEnd; a += CHUNK_MS, chunk++) {
    const b = Math.min(tEnd, a + CHUNK_MS);
    const rows: TraceRow[] = [];
    while (t0 + Math.round(row(next).arrivalMs / compress) < b) rows.push(row(next++));
    live = live
      .filter((q) => q.tEndMs > a)
      .concat(scheduleRequests(rows, instances, t0, compress, chunk + 1, `m${chunk.toString(36)}`));
    // Collectors publish in time order: sorted below, by event time.
    const power: [number, OutMessage][] = [];
    simulatePower(live, instances, { idleW: 70, maxW: 700 }, a, b, stepMs, (k, t, w) => {
      const inst = instances[k]!;
      power.push([t + stepMs, gpuReading(codec, inst.host, inst.gpus[0]!, t + stepMs, w, stepMs)]);
    });
    // A request is logged when it ends; the ones that end after the run are never logged.
    const ended = live.filter((q) => q.tEndMs > a && q.tEndMs <= b);
    const reqs = ended.map((q) => ({ key: q.host, value: codec.encode('request', wire(q)) }));
    // The host's own series, as the engine's stated bound assumes: two RAPL packages and DRAM as
    // energy counters, and the BMC's node reading, each once a second.
    for (let t = a + 1000; t <= b; t += 1000) {
      const tick = (t - t0) / 1000;
      for (const host of names) {
        for (const [role, device] of HOST_COUNTERS)
          power.push([
            t,
            {
              key: host,
              value: codec.encode('power', {
                host,
                role,
                device,
                tMs: t,
                kind: 'counter',
                energyJ: (tick * 150) % 262_143,
                rangeJ: 262_143.32885,
                powerW: null,
                averagingMs: null,
                source: 'rapl',
              }),
            },
          ]);
        const bmc = {
          kind: 'reading',
          host,
          role: 'node',
          device: 'bmc',
          tMs: t,
          powerW: 3000,
          averagingMs: 1000,
        } as const;
        power.push([t, readingMessage(codec, bmc, 'bmc')]);
      }
    }
    power.sort((x, y) => x[0] - y[0]);
    await Promise.all([
      publisher.send(topics.requests, reqs),
      publisher.send(
        topics.power,
        power.map(([, m]) => m),
      ),
    ]);
    requests += reqs.length;
    samples += power.length;
  }
  const end = tEnd + 10_000;
  for (const stream of ['requests', 'power'] as const)
    await publisher.send(
      stream === 'requests' ? topics.requests : topics.power,
      names.map((h) => ({ key: h, value: codec.encode('heartbeat', { host: h, stream, tMs: end }) })),
    );
  await publisher.disconnect();
  return {
    records: requests + samples + 2 * hosts,
    requests,
    samples,
    produceS: (Date.now() - started) / 1000,
  };
}

interface Probe {
  tMs: number;
  gcMs: number;
  heapUsed: number;
  rss: number;
}

interface MemoryRun {
  hosts: number;
  horizonMin: number;
  /** Heap and RSS of the joined, idle joiner before its first record. */
  baseHeapMb: number;
  baseRssMb: number;
  /** Heap after GC and RSS at each tenth of the input consumed (event time runs with it). */
  curve: { consumedPct: number; heapMb: number; rssMb: number; stateMb: number }[];
  /** The last reading with the whole input consumed, before the final windows close. */
  endHeapMb: number;
  endRssMb: number;
  endStateMb: number;
  heapPerHostMb: number;
  estimatePerHostMb: number;
  /** Records the joiner sent to the late topic, and windows it corrected: a backlog catch-up. */
  late: number;
  corrections: number;
  /**
   * Heap after GC over the readings taken once event time is past H + 1 min: the state is at its
   * full size there, so a leak shows as a rising minimum. Readings while records stream in also hold
   * fetched batches and rows waiting for insert; the end reading holds none.
   */
  pastH: { readings: number; minMb: number; maxMb: number; firstMb: number; lastMb: number };
  seconds: number;
}

const PROBE_ARGS = [
  '--expose-gc',
  // Room for the largest runs: V8's default old space on this machine is about 4 GB.
  `--max-old-space-size=${Math.floor((totalmem() / 2 ** 20) * 0.75)}`,
  '--import',
  'tsx',
  '--import',
  join(ROOT, 'services/bench/gc-probe.ts'),
];

function readProbe(file: string): Probe[] {
  const probes = readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Probe);
  rmSync(file, { force: true });
  return probes;
}

/**
 * The joined, idle joiner with the same fleet, on topics that hold nothing: the heap that is not
 * state. (Readings of the measured joiner before its first record already hold fetched batches.)
 */
async function idleBaseline(kafka: Kafka, base: Env, hosts: number, fleetFile: string): Promise<Probe> {
  const id = randomBytes(3).toString('hex');
  const prefix = `${base.KAFKA_TOPIC_PREFIX!}idle-${id}.`;
  await ensureTopics(kafka, topicsFor(prefix), PARTITIONS);
  const probeFile = join(tmpdir(), `joulestream-gc-${id}.jsonl`);
  const env: Env = {
    ...base,
    KAFKA_TOPIC_PREFIX: prefix,
    CLICKHOUSE_DATABASE: `${base.CLICKHOUSE_DATABASE!}_idle${hosts}`,
    JOULESTREAM_GROUP_ID: `${base.JOULESTREAM_GROUP_ID!}-idle-${id}`,
    JOULESTREAM_FLEET: fleetFile,
    JOULESTREAM_BENCH_GC_FILE: probeFile,
  };
  await migrate(loadConfig(env).clickhouse);
  const proc = await startJoiner(env, PROBE_ARGS);
  const t0 = Date.now();
  while (!(await metricsOf(proc)).has('joulestream_joiner_assigned_partitions')) {
    if (Date.now() - t0 > 60_000) throw new Error('the idle joiner did not join its group within 60 s');
    await sleep(200);
  }
  await sleep(4000);
  await kill(proc, 'SIGTERM');
  return readProbe(probeFile).at(-1)!;
}

async function measure(
  gcEveryS: number,
  idle: Probe,
  minutes: number,
  base: Env,
  topics: Topics,
  pub: Published,
  hosts: number,
  horizonMin: number,
  fleetFile: string,
): Promise<MemoryRun> {
  const id = randomBytes(3).toString('hex');
  const probeFile = join(tmpdir(), `joulestream-gc-${id}.jsonl`);
  const env: Env = {
    ...base,
    CLICKHOUSE_DATABASE: `${base.CLICKHOUSE_DATABASE!}_h${hosts}_H${horizonMin}`,
    JOULESTREAM_GROUP_ID: `${base.JOULESTREAM_GROUP_ID!}-h${hosts}-H${horizonMin}-${id}`,
    JOULESTREAM_FLEET: fleetFile,
    JOULESTREAM_HORIZON_MS: String(horizonMin * 60_000),
    JOULESTREAM_BENCH_GC_FILE: probeFile,
    // Often enough for a curve over a run of a minute or two; each reading pauses the joiner for a
    // full GC, so the throughput of this run means nothing.
    JOULESTREAM_BENCH_GC_EVERY_MS: String(gcEveryS * 1000),
  };
  await migrate(loadConfig(env).clickhouse);
  const proc = await startJoiner(env, PROBE_ARGS);
  const t0 = Date.now();
  const polls: { tMs: number; consumed: number; state: number }[] = [];
  for (;;) {
    const m = await metricsOf(proc);
    const consumed = m.get('joulestream_joiner_records_total') ?? 0;
    polls.push({ tMs: Date.now(), consumed, state: m.get('joulestream_joiner_state_bytes') ?? 0 });
    if (consumed >= pub.records) break;
    if (proc.child.exitCode !== null) throw new Error(`the joiner exited with ${proc.child.exitCode}`);
    if (Date.now() - t0 > 60 * 60_000) throw new Error('the joiner did not consume the input within an hour');
    await sleep(1000);
  }
  // Readings with everything consumed, the final windows closed and their rows written: nothing in
  // flight, only state.
  await sleep(12_000);
  const last = await metricsOf(proc);
  polls.push({
    tMs: Date.now(),
    consumed: pub.records,
    state: last.get('joulestream_joiner_state_bytes') ?? 0,
  });
  await kill(proc, 'SIGTERM');
  const late = last.get('joulestream_joiner_late_total') ?? 0;
  const corrections = last.get('joulestream_joiner_corrected_windows_total') ?? 0;
  const probes = readProbe(probeFile);
  const at = (tMs: number) => {
    let best = polls[0]!;
    for (const p of polls) if (Math.abs(p.tMs - tMs) < Math.abs(best.tMs - tMs)) best = p;
    return best;
  };
  const readings = probes.map((p) => ({ ...p, ...at(p.tMs) }));
  const mb = (b: number) => b / 1e6;
  const curve: MemoryRun['curve'] = [];
  for (let pct = 10; pct <= 100; pct += 10) {
    const r = readings.find((x) => x.consumed >= (pct / 100) * pub.records);
    if (r) curve.push({ consumedPct: pct, heapMb: mb(r.heapUsed), rssMb: mb(r.rss), stateMb: mb(r.state) });
  }
  const end = readings.at(-1)!;
  const past = readings.filter(
    (r) => r.consumed >= ((horizonMin + 1) / minutes) * pub.records && r.consumed < pub.records,
  );
  const heaps = past.map((r) => mb(r.heapUsed));
  return {
    hosts,
    horizonMin,
    baseHeapMb: mb(idle.heapUsed),
    baseRssMb: mb(idle.rss),
    curve,
    endHeapMb: mb(end.heapUsed),
    endRssMb: mb(end.rss),
    endStateMb: mb(end.state),
    heapPerHostMb: mb(end.heapUsed - idle.heapUsed) / hosts,
    estimatePerHostMb: mb(end.state) / hosts,
    late,
    corrections,
    pastH: {
      readings: past.length,
      minMb: Math.min(...heaps),
      maxMb: Math.max(...heaps),
      firstMb: heaps[0] ?? NaN,
      lastMb: heaps.at(-1) ?? NaN,
    },
    seconds: (Date.now() - t0) / 1000,
  };
}

const pastH = (r: MemoryRun): string =>
  r.pastH.readings === 0
    ? 'no reading'
    : `${r.pastH.firstMb.toFixed(0)} → ${r.pastH.lastMb.toFixed(0)} (${r.pastH.minMb.toFixed(0)}–${r.pastH.maxMb.toFixed(0)}, ${r.pastH.readings} readings)`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      hosts: { type: 'string', default: '100,1000' },
      horizons: { type: 'string', default: '5,15' },
      minutes: { type: 'string', default: '25' },
      hz: { type: 'string', default: '1' },
      rps: { type: 'string', default: '0.33' },
      // A full GC of a multi-GB heap takes 1-2 s: at 1,000 hosts, read less often.
      'gc-every-s': { type: 'string', default: '2' },
      out: { type: 'string', default: 'bench-memory.json' },
    },
  });
  const hostCounts = values.hosts.split(',').map(Number);
  const horizons = values.horizons.split(',').map(Number);
  const minutes = Number(values.minutes);
  const hz = Number(values.hz);
  const rps = Number(values.rps);
  const bad = [...hostCounts, ...horizons, minutes, hz, rps].some((x) => !Number.isFinite(x) || x <= 0);
  if (bad) throw new Error('--hosts, --horizons, --minutes, --hz and --rps take positive numbers');
  if (minutes <= Math.max(...horizons))
    throw new Error(`--minutes (${minutes}) must exceed the largest horizon, or the state never levels off`);
  const stack = await nativeStackUp();
  const id = randomBytes(3).toString('hex');
  const base: Env = {
    ...process.env,
    ...stack,
    CLICKHOUSE_DATABASE: `js_mem_${id}`,
    JOULESTREAM_GROUP_ID: `js-mem-${id}`,
    LOG_LEVEL: 'warn',
  };
  const kafka = createKafka(loadConfig(base).kafka, createLogger('bench', 'error'));
  const machine = `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB`;
  const say = (s: string) => process.stderr.write(`[bench:memory] ${s}\n`);
  const runs: MemoryRun[] = [];
  for (const hosts of hostCounts) {
    const prefix = `js-mem-${id}-h${hosts}.`;
    const topics = topicsFor(prefix);
    await ensureTopics(kafka, topics, PARTITIONS);
    const fleetFile = join(tmpdir(), `bench-fleet-${hosts}.yaml`);
    writeFileSync(fleetFile, fleetYaml(hosts));
    // Event time ends a little before now, so no record is from the future.
    const t0 = Math.floor((Date.now() - (minutes * 60 + 60) * 1000) / 1000) * 1000;
    say(`${hosts} hosts × 8 GPUs, ${minutes} min of event time, power at ${hz} Hz: publishing`);
    const pub = await publish(kafka, topics, hosts, minutes, hz, rps, t0);
    say(
      `${pub.records} records (${pub.requests} requests, ${pub.samples} samples) in ${pub.produceS.toFixed(0)} s`,
    );
    const idle = await idleBaseline(kafka, { ...base, KAFKA_TOPIC_PREFIX: prefix }, hosts, fleetFile);
    say(`idle joiner, ${hosts} hosts in the fleet: heap ${(idle.heapUsed / 1e6).toFixed(0)} MB after GC`);
    for (const h of horizons) {
      say(`${hosts} hosts, H = ${h} min: joiner with a GC probe`);
      const r = await measure(
        Number(values['gc-every-s']),
        idle,
        minutes,
        { ...base, KAFKA_TOPIC_PREFIX: prefix },
        topics,
        pub,
        hosts,
        h,
        fleetFile,
      );
      runs.push(r);
      say(
        `heap ${r.endHeapMb.toFixed(0)} MB after GC (idle ${r.baseHeapMb.toFixed(0)}), ${r.heapPerHostMb.toFixed(2)} MB per host, estimate ${r.estimatePerHostMb.toFixed(2)}; past H ${pastH(r)}; late ${r.late}, corrected windows ${r.corrections}`,
      );
    }
  }
  console.log(
    `machine: ${machine}; hosts of 8 GPUs, power at ${hz} Hz per GPU, ${rps} requests/s per GPU, ${minutes} min of event time\n`,
  );
  console.log(
    '| hosts | H | heap after GC, idle → end MB | RSS end MB | heap per host MB | engine estimate per host MB | heap after GC past H, while streaming: first → last (min–max) MB |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of runs)
    console.log(
      `| ${r.hosts} | ${r.horizonMin} min | ${r.baseHeapMb.toFixed(0)} → ${r.endHeapMb.toFixed(0)} | ${r.endRssMb.toFixed(0)} | ${r.heapPerHostMb.toFixed(2)} | ${r.estimatePerHostMb.toFixed(2)} | ${pastH(r)} |`,
    );
  for (const r of runs)
    console.log(
      `\n${r.hosts} hosts, H = ${r.horizonMin} min, heap after GC by share of the input consumed: ` +
        r.curve.map((c) => `${c.consumedPct} % ${c.heapMb.toFixed(0)} MB`).join(', ') +
        `; engine estimate per host: ` +
        r.curve.map((c) => `${c.consumedPct} % ${(c.stateMb / r.hosts).toFixed(2)} MB`).join(', ') +
        `; late records ${r.late}, corrected windows ${r.corrections}`,
    );
  writeFileSync(values.out, JSON.stringify({ machine, hz, rps, minutes, runs }, null, 2) + '\n');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`[bench:memory] ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  },
);
