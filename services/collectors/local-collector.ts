// `joulestream collect-local --config local.yaml`: the agent on a GPU host. Reads its power sources
// every interval, publishes their samples keyed by host with a heartbeat per source, and keeps
// going when one source fails (counted, logged, retried next tick).
//
//   host: gpu-001
//   intervalMs: 1000
//   sources:
//     rapl: { root: /sys/class/powercap }
//     nvidiaSmi: { command: [nvidia-smi] }
//     redfish: { url: https://bmc-gpu-001, chassis: "1", auth: session, caFile: /etc/bmc-ca.pem }
// Redfish credentials come from JOULESTREAM_REDFISH_USER / JOULESTREAM_REDFISH_PASSWORD (or *_FILE).

import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { AvroCodec } from '../adapters/avro.ts';
import { startHttp } from '../adapters/http.ts';
import { createKafka, ensureTopics, topicsFor, type Topics } from '../adapters/kafka.ts';
import { openSender, type Sender } from '../adapters/spool.ts';
import { createLogger, type Logger } from '../adapters/logger.ts';
import { Registry } from '../adapters/metrics.ts';
import { frameMessages } from '../adapters/power-frames.ts';
import { secret, type Config, type Env } from '../config/config.ts';
import { ConfigError } from '../config/errors.ts';
import { deadLetterMessage, encodeEach, type Unusable } from './dead-letters.ts';
import { NvidiaSmi, RaplSysfs, Redfish, type PowerSource } from './local-sources.ts';
import { toUnusable, UnusableAnswerError } from './unusable-answer.ts';

export interface LocalConfig {
  host: string;
  intervalMs: number;
  sources: PowerSource[];
}

/** Validates the agent's config file; credentials are read from env or files, never from it. */
export function parseLocalConfig(raw: unknown, where: string, env: Env): LocalConfig {
  const o = raw as Record<string, unknown> | null;
  if (!o || typeof o !== 'object')
    throw new ConfigError(`${where}: expected a mapping with host and sources`);
  if (typeof o.host !== 'string' || o.host === '')
    throw new ConfigError(`${where}: host must be the fleet's host id`);
  const host = o.host;
  const intervalMs = o.intervalMs === undefined ? 1000 : Number(o.intervalMs);
  if (!Number.isInteger(intervalMs) || intervalMs < 100 || intervalMs > 600_000)
    throw new ConfigError(`${where}: intervalMs must be an integer from 100 to 600000`);
  const src = (o.sources ?? {}) as Record<string, Record<string, unknown> | undefined>;
  const sources: PowerSource[] = [];
  if (src.rapl)
    sources.push(new RaplSysfs(host, typeof src.rapl.root === 'string' ? src.rapl.root : undefined));
  if (src.nvidiaSmi) {
    const cmd = src.nvidiaSmi.command ?? ['nvidia-smi'];
    if (!Array.isArray(cmd) || cmd.length === 0 || !cmd.every((c) => typeof c === 'string'))
      throw new ConfigError(`${where}: sources.nvidiaSmi.command must be a list of strings`);
    sources.push(new NvidiaSmi(host, cmd));
  }
  if (src.redfish) {
    const r = src.redfish;
    if (typeof r.url !== 'string' || !/^https?:\/\//.test(r.url))
      throw new ConfigError(`${where}: sources.redfish.url must be an http(s) URL`);
    const kind = r.auth ?? 'session';
    if (kind !== 'basic' && kind !== 'session' && kind !== 'none')
      throw new ConfigError(`${where}: sources.redfish.auth must be basic, session or none`);
    let auth = null;
    if (kind !== 'none') {
      const user = secret(env, 'JOULESTREAM_REDFISH_USER');
      const password = secret(env, 'JOULESTREAM_REDFISH_PASSWORD');
      if (!user || !password)
        throw new ConfigError(
          'Redfish auth needs JOULESTREAM_REDFISH_USER and JOULESTREAM_REDFISH_PASSWORD (or *_FILE)',
        );
      auth = { kind, user, password } as const;
    }
    let ca: string | undefined;
    if (r.caFile !== undefined) {
      if (typeof r.caFile !== 'string')
        throw new ConfigError(`${where}: sources.redfish.caFile must be a path`);
      try {
        ca = readFileSync(r.caFile, 'utf8');
      } catch (err) {
        throw new ConfigError(`${where}: sources.redfish.caFile cannot be read: ${(err as Error).message}`);
      }
    }
    sources.push(
      new Redfish(host, {
        baseUrl: r.url,
        chassis: typeof r.chassis === 'string' ? r.chassis : '1',
        auth,
        ...(ca ? { ca } : {}),
        insecure: r.insecure === true,
      }),
    );
  }
  if (sources.length === 0)
    throw new ConfigError(`${where}: configure at least one of sources.rapl, nvidiaSmi, redfish`);
  return { host, intervalMs, sources };
}

export class LocalCollector {
  private readonly codec = new AvroCodec();
  private readonly m;

  constructor(
    private readonly cfg: LocalConfig,
    private readonly deps: { publisher: Sender; topics: Topics; log: Logger; metrics: Registry },
  ) {
    this.m = {
      samples: deps.metrics.counter('joulestream_local_samples_total', 'Samples published, by source'),
      errors: deps.metrics.counter('joulestream_local_source_errors_total', 'Failed reads, by source'),
      dead: deps.metrics.counter(
        'joulestream_local_dead_letters_total',
        'Unusable answers and samples, by reason',
      ),
    };
  }

  /** One round: every source read, whatever it has published with its heartbeat. */
  async tick(nowMs = Date.now()): Promise<number> {
    const { host } = this.cfg;
    let n = 0;
    await Promise.all(
      this.cfg.sources.map(async (src) => {
        try {
          const read = await src.read(nowMs);
          // Each sample is encoded alone: one the wire cannot carry is dead-lettered, not the round.
          const enc = encodeEach(
            read,
            (s) => this.codec.tryEncode('power', s),
            () => host,
            (s) => `${src.name} ${s.role}:${s.device}`,
          );
          const samples = enc.kept;
          const newest = samples.reduce((t, s) => Math.max(t, s.tMs), nowMs);
          await this.deps.publisher.send(this.deps.topics.power, [
            // A read of a source is one instant for all its devices: one frame, not a record each.
            ...frameMessages(this.codec, samples),
            {
              key: host,
              value: this.codec.encode('heartbeat', { host, stream: 'power', tMs: newest, source: src.name }),
            },
          ]);
          await this.deadLetter([...(src.takeUnusable?.() ?? []), ...enc.unusable], nowMs);
          this.m.samples.inc({ source: src.name }, samples.length);
          n += samples.length;
        } catch (err) {
          this.m.errors.inc({ source: src.name });
          this.deps.log.warn({ source: src.name, err: (err as Error).message }, 'power source read failed');
          if (err instanceof UnusableAnswerError)
            await this.deadLetter([toUnusable(err, host)], nowMs).catch((e: unknown) =>
              this.deps.log.warn(
                { err: (e as Error).message },
                'dead letter not published; retried next tick',
              ),
            );
        }
      }),
    );
    return n;
  }

  private async deadLetter(unusable: readonly Unusable[], nowMs: number): Promise<void> {
    if (unusable.length === 0) return;
    for (const u of unusable) this.m.dead.inc({ reason: u.reason });
    await this.deps.publisher.send(
      this.deps.topics.deadletter,
      unusable.map((u) => deadLetterMessage(this.codec, 'local-collector', u, nowMs)),
    );
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const started = Date.now();
      await this.tick(started);
      const wait = Math.max(0, this.cfg.intervalMs - (Date.now() - started));
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, wait);
        signal.addEventListener('abort', () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

export async function runLocalCollector(config: Readonly<Config>, file: string, env: Env): Promise<void> {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`config file ${file}: ${(err as Error).message}`);
  }
  const cfg = parseLocalConfig(raw, file, env);
  const log = createLogger('collect-local', config.logLevel);
  const topics = topicsFor(config.kafka.topicPrefix);
  const kafka = createKafka(config.kafka, log);
  await ensureTopics(kafka, topics, config.kafka.partitions);
  const out = await openSender(kafka, config.spool, log);
  const metrics = new Registry();
  const collector = new LocalCollector(cfg, { publisher: out.sender, topics, log, metrics });
  const stop = new AbortController();
  const http = await startHttp(
    config.httpPort,
    metrics,
    {
      live: () => true,
      ready: () => (stop.signal.aborted ? { ok: false, reason: 'stopping' } : { ok: true }),
    },
    config.http,
  );
  log.info(
    { host: cfg.host, sources: cfg.sources.map((s) => s.name), port: http.port },
    'local collector started',
  );
  process.once('SIGTERM', () => stop.abort());
  process.once('SIGINT', () => stop.abort());
  await collector.run(stop.signal);
  await out.close();
  http.close();
}
