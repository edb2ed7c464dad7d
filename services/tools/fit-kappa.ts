// `joulestream fit-kappa`: replays the request and power topics (as far as they reach when it
// starts) through the same per-host engine as the joiner, collects every final clean accelerator
// window, and fits kappa per model by least squares. Read-only: its throwaway consumer group
// commits nothing, writes nothing, and leaves the joiner's offsets alone.

import { randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { AvroCodec } from '../adapters/avro.ts';
import { samplesOf } from '../adapters/power-frames.ts';
import type { Topics } from '../adapters/kafka.ts';
import type { Logger } from '../adapters/logger.ts';
import type { Config } from '../config/config.ts';
import type { Fleet } from '../core/fleet.ts';
import { HostEngine } from '../core/engine/engine.ts';
import { emptyEmissions } from '../core/engine/emissions.ts';
import { fitProblem } from '../core/kappa-calibration.ts';
import { fitKappa, type KappaFit, type KappaObservation } from '../core/kappa-fit.ts';
import { validateHeartbeat, validatePower, validateRequest } from '../core/validate.ts';
import { toSample } from '../joiner/routing.ts';
import { table } from '../report/table.ts';

export interface ReplayStats {
  records: number;
  skipped: number;
  windows: number;
}

export interface FitKappaOptions {
  /** Only events in [fromMs, toMs) are used. */
  fromMs?: number;
  toMs?: number;
  /** Gives up waiting for the topics' end after this long. */
  timeoutMs?: number;
}

/** Replays both topics up to their current ends and fits kappa per model. */
export async function fitKappaFromKafka(
  deps: { kafka: Kafka; topics: Topics; fleet: Fleet; config: Readonly<Config>; log: Logger },
  opts: FitKappaOptions = {},
): Promise<{ fits: KappaFit[]; stats: ReplayStats }> {
  const { kafka, topics, fleet, config } = deps;
  const admin = kafka.admin();
  await admin.connect();
  // The end of the replay: each partition's high watermark now.
  const remaining = new Map<string, number>();
  try {
    for (const topic of [topics.requests, topics.power]) {
      for (const p of await admin.fetchTopicOffsets(topic)) {
        if (Number(p.high) > Number(p.low)) remaining.set(`${topic}/${p.partition}`, Number(p.high));
      }
    }
  } finally {
    await admin.disconnect();
  }

  const codec = new AvroCodec();
  const observations: KappaObservation[] = [];
  const hosts = new Map<string, HostEngine>();
  const out = emptyEmissions();
  const stats: ReplayStats = { records: 0, skipped: 0, windows: 0 };
  const from = opts.fromMs ?? Number.NEGATIVE_INFINITY;
  const to = opts.toMs ?? Number.POSITIVE_INFINITY;
  // Old records are the point of a replay: accept any past, as far as the topics retain.
  const bounds = { maxPastMs: Number.MAX_SAFE_INTEGER, maxFutureMs: 5 * 60_000 };
  let maxEventMs = Number.NEGATIVE_INFINITY;
  const host = (id: string): HostEngine => {
    let h = hosts.get(id);
    if (!h) {
      h = new HostEngine(fleet.hosts.get(id)!, fleet, config.joiner);
      h.kappaSink = (o) => observations.push(o);
      hosts.set(id, h);
    }
    return h;
  };
  const ingest = (value: Buffer | null, now: number): void => {
    stats.records++;
    let d;
    try {
      if (!value) throw new Error('empty');
      d = codec.decode(value);
    } catch {
      stats.skipped++;
      return;
    }
    if (d.kind === 'request') {
      const r = d.value;
      if (validateRequest(r, fleet, now, bounds) || r.tStartMs < from || r.tStartMs >= to) {
        stats.skipped++;
        return;
      }
      maxEventMs = Math.max(maxEventMs, r.tEndMs);
      host(r.host).addRequest(r, 0, out);
    } else if (d.kind === 'power' || d.kind === 'frame') {
      // A frame (issue 16) stands for its per-device samples; a replay is not the joiner's hot path.
      for (const w of d.kind === 'frame' ? samplesOf(d.value) : [d.value]) {
        const s = toSample(w);
        if (typeof s === 'string' || validatePower(s, fleet, now, bounds) || s.tMs < from || s.tMs >= to) {
          stats.skipped++;
          continue;
        }
        maxEventMs = Math.max(maxEventMs, s.tMs);
        host(s.host).addPower(s, 0, out);
      }
    } else if (d.kind === 'heartbeat') {
      if (validateHeartbeat(d.value, fleet, now, bounds)) stats.skipped++;
      else host(d.value.host).addHeartbeat(d.value, 0);
    } else stats.skipped++;
  };

  if (remaining.size > 0) {
    const consumer = kafka.consumer({ groupId: `joulestream-fit-kappa-${randomBytes(6).toString('hex')}` });
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [topics.requests, topics.power], fromBeginning: true });
      let done!: () => void;
      const finished = new Promise<void>((r) => (done = r));
      await consumer.run({
        autoCommit: false,
        eachBatch: async (payload) => {
          const { batch } = payload;
          const key = `${batch.topic}/${batch.partition}`;
          const end = remaining.get(key);
          const now = Date.now();
          for (const m of batch.messages) {
            if (end === undefined || Number(m.offset) >= end) break;
            ingest(m.value, now);
            if (Number(m.offset) === end - 1) remaining.delete(key);
          }
          for (const h of hosts.values()) h.advance(0, out);
          out.requests.length = 0;
          out.ledger.length = 0;
          out.late.length = 0;
          if (remaining.size === 0) done();
          await payload.heartbeat();
        },
      });
      const timeoutMs = opts.timeoutMs ?? 600_000;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        finished,
        new Promise<void>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`replay did not reach the topics' end within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]).finally(() => clearTimeout(timer));
    } finally {
      await consumer.disconnect();
    }
  }
  // The topics' end: let every window with data close, then take those still inside the horizon.
  const { outOfOrdernessMs, allowedLatenessMs, windowMs } = config.joiner;
  const endMs = maxEventMs + outOfOrdernessMs + allowedLatenessMs + 2 * windowMs;
  for (const [id, h] of hosts) {
    h.addHeartbeat({ host: id, stream: 'requests', tMs: endMs }, 0);
    h.addHeartbeat({ host: id, stream: 'power', tMs: endMs }, 0);
    h.advance(0, out);
    h.observeRemaining();
  }
  stats.windows = observations.length;
  deps.log.debug(stats, 'fit-kappa replay finished');
  return { fits: fitKappa(observations), stats };
}

/** The fits as a table, plus the setting to paste when they are usable. */
export function formatFits(fits: readonly KappaFit[], stats: ReplayStats): string {
  const f = (v: number, d: number): string => (Number.isFinite(v) ? v.toFixed(d) : '-');
  const rows = fits.map((k) => [
    k.model,
    String(k.windows),
    f(k.prefillJPerToken, 4),
    f(k.decodeJPerToken, 4),
    `${f(k.kappa, 4)} ± ${Number.isFinite(k.kappaStdErr) ? k.kappaStdErr.toPrecision(2) : '-'}`,
    f(k.offsetW, 1),
    f(k.r2, 3),
    k.problem ?? 'ok',
    // The joiner's own thresholds (decision record 0016): would it use this fit online?
    k.problem ? '-' : (fitProblem(k) ?? 'yes'),
  ]);
  const good = fits.filter((k) => k.problem === null);
  return (
    `replayed ${stats.records} records (${stats.skipped} skipped as invalid or outside the range); ` +
    `${stats.windows} clean accelerator windows\n\n` +
    table(
      [
        'model',
        'windows',
        'J/prefill tok',
        'J/decode tok',
        'kappa ± s.e.',
        'offset W',
        'R2',
        'fit',
        'online',
      ],
      rows,
    ) +
    (good.length > 0
      ? `\nJOULESTREAM_KAPPA_BY_MODEL=${good.map((k) => `${k.model}=${k.kappa.toFixed(4)}`).join(',')}\n`
      : '\nno usable fit: the replay needs windows of one model with both prefill and decode tokens\n')
  );
}
