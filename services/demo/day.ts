// The demo's day pass: a whole day of event time, so the hour-of-day and counterfactual views have
// every hour to show. Four hosts (one per grid zone, all H100, so only the grid differs) serve a low
// request rate for the 24 hours before the main pass, priced with SYNTHETIC hourly intensity series
// (data/grid-diurnal-synthetic.json). A second joiner with one-minute windows takes it: 4 hosts x
// 1,440 windows instead of 4 x 86,400 at the main pass's one-second windows, which keeps the pass
// to a few seconds. The day hosts report GPU power only (no RAPL or BMC), so their rows hold
// accelerator energy and the facility overhead. Records go straight to Kafka, as the chaos
// scenarios and the bench send them.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Kafka } from 'kafkajs';
import { AvroCodec } from '../adapters/avro.ts';
import { ensureTopics, Publisher, topicsFor } from '../adapters/kafka.ts';
import type { Logger } from '../adapters/logger.ts';
import type { Registry } from '../adapters/metrics.ts';
import type { Config } from '../config/config.ts';
import type { Fleet, GridZone } from '../core/fleet.ts';
import { Joiner } from '../joiner/joiner.ts';
import { scheduleRequests, simulatePower } from '../sim/fleet-sim.ts';
import type { PowerSample } from '../core/types.ts';
import { hourlySeries, type DiurnalShape } from '../sim/grid-day.ts';
import type { TraceRow } from '../sim/trace.ts';
import { readingMessage, requestMessage } from '../sim/wire.ts';
import { instancesFor, isDayHost } from './fleet-instances.ts';

const SHAPES = fileURLToPath(new URL('../../data/grid-diurnal-synthetic.json', import.meta.url));
const HOUR_MS = 3_600_000;
const DAY_WINDOW_MS = 60_000;

export interface DayPassDeps {
  config: Readonly<Config>;
  fleet: Fleet;
  kafka: Kafka;
  writer: ClickHouseClient;
  /** Closed when the pass ends. */
  reader: ClickHouseClient;
  log: Logger;
  metrics: Registry;
  trace: readonly TraceRow[];
  outDir: string;
  runId: string;
  seed: number;
  /** The pass ends at the last whole hour before this (the main pass's start). */
  beforeMs: number;
  requestsPerHostHour: number;
  say: (msg: string) => void;
}

/** Zones with a synthetic hourly series over [fromMs, fromMs + hours). */
function syntheticZones(fleet: Fleet, fromMs: number, hours: number): Map<string, GridZone> {
  const shapes = (JSON.parse(readFileSync(SHAPES, 'utf8')) as { zones: Record<string, DiurnalShape> }).zones;
  const zones = new Map(fleet.zones);
  for (const [id, z] of fleet.zones) {
    const shape = shapes[id];
    if (shape) zones.set(id, { ...z, series: hourlySeries(z.annualGPerKWh, shape, fromMs, hours + 1) });
  }
  return zones;
}

export async function runDayPass(
  d: DayPassDeps,
): Promise<{ fromMs: number; toMs: number; requests: number }> {
  const started = Date.now();
  const hosts = [...d.fleet.hosts.keys()].filter(isDayHost);
  if (hosts.length === 0) return { fromMs: d.beforeMs, toMs: d.beforeMs, requests: 0 };
  const toMs = Math.floor(d.beforeMs / HOUR_MS) * HOUR_MS - HOUR_MS;
  const fromMs = toMs - 24 * HOUR_MS;
  const zones = syntheticZones(d.fleet, fromMs, 24);
  writeFileSync(
    join(d.outDir, 'grid-day-synthetic.csv'),
    'zone,datetime,g_per_kwh,source\n' +
      [...zones.values()]
        .flatMap((z) =>
          (z.series?.tMs ?? []).map(
            (t, i) => `${z.id},${new Date(t).toISOString()},${z.series!.value[i]!.toFixed(1)},synthetic`,
          ),
        )
        .join('\n') +
      '\n',
  );
  // A low, even rate: the trace's token counts, arrivals spread over the day.
  const n = Math.round(d.requestsPerHostHour * 24 * hosts.length);
  const rows: TraceRow[] = Array.from({ length: n }, (_, k) => ({
    ...d.trace[(k * 7919) % d.trace.length]!,
    arrivalMs: Math.round(((k + 0.5) * 24 * HOUR_MS) / n),
  }));
  const instances = instancesFor(hosts, d.fleet);
  const requests = scheduleRequests(rows, instances, fromMs, 1, d.seed, 'day').filter((r) => r.tEndMs < toMs);
  // One-minute average power per GPU, as a slow NVML poll reports it (1 s simulation steps).
  const minutes = (toMs - fromMs) / DAY_WINDOW_MS;
  const perMinute = instances.map(() => new Float64Array(minutes));
  simulatePower(requests, instances, { idleW: 70, maxW: 700 }, fromMs, toMs, 1000, (k, t, w) => {
    perMinute[k]![Math.floor((t - fromMs) / DAY_WINDOW_MS)]! += (w * 1000) / DAY_WINDOW_MS;
  });
  const samples: PowerSample[] = [];
  for (let m = 0; m < minutes; m++)
    instances.forEach((inst, k) => {
      for (const g of inst.gpus)
        samples.push({
          kind: 'reading',
          host: inst.host,
          role: 'accelerator',
          device: String(g),
          tMs: fromMs + (m + 1) * DAY_WINDOW_MS,
          powerW: perMinute[k]![m]!,
          averagingMs: DAY_WINDOW_MS,
        });
    });

  const topics = topicsFor(`joulestream.demo-${d.runId}-day.`);
  await ensureTopics(d.kafka, topics, d.config.kafka.partitions);
  const joiner = new Joiner({
    config: {
      ...d.config,
      joiner: { ...d.config.joiner, windowMs: DAY_WINDOW_MS, groupId: `joulestream-demo-${d.runId}-day` },
    },
    fleet: { ...d.fleet, zones },
    kafka: d.kafka,
    topics,
    clickhouse: d.writer,
    log: d.log.child({ component: 'day-joiner' }),
    metrics: d.metrics,
  });
  await joiner.start();
  const codec = new AvroCodec();
  const publisher = new Publisher(d.kafka);
  await publisher.connect();
  await publisher.send(
    topics.power,
    samples.map((s) => readingMessage(codec, s, 'nvml')),
  );
  await publisher.send(
    topics.requests,
    [...requests].sort((a, b) => a.tEndMs - b.tEndMs).map((r) => requestMessage(codec, r)),
  );
  const finalT = toMs + 3 * DAY_WINDOW_MS;
  for (const [topic, stream] of [
    [topics.requests, 'requests'],
    [topics.power, 'power'],
  ] as const)
    await publisher.send(
      topic,
      hosts.map((h) => ({ key: h, value: codec.encode('heartbeat', { host: h, stream, tMs: finalT }) })),
    );
  await publisher.disconnect();
  const deadline = Date.now() + 5 * 60_000;
  let rows2 = 0;
  for (;;) {
    const res = await d.reader.query({
      query: `SELECT count() AS n FROM request_energy FINAL WHERE t_start_ms < ${toMs}`,
      format: 'JSONEachRow',
    });
    rows2 = Number((await res.json<{ n: string }>())[0]?.n ?? 0);
    if (rows2 >= requests.length || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  await joiner.stop();
  await d.reader.close();
  d.say(
    `day pass in ${((Date.now() - started) / 1000).toFixed(1)} s: ${rows2}/${requests.length} requests on ${hosts.length} hosts over 24 h of event time (${new Date(fromMs).toISOString()} to ${new Date(toMs).toISOString()}), one-minute windows, SYNTHETIC hourly grid intensity (${join(d.outDir, 'grid-day-synthetic.csv')})`,
  );
  if (rows2 < requests.length)
    throw new Error(`day pass: only ${rows2} of ${requests.length} request rows arrived before the deadline`);
  return { fromMs, toMs, requests: requests.length };
}
