// File collectors: a JSONL request log and an nvidia-smi-style power CSV, each published to Kafka
// keyed by host, with heartbeats so the joiner's watermarks move, and unusable lines dead-lettered.

import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { AvroCodec } from '../adapters/avro.ts';
import type { OutMessage, Publisher, Topics } from '../adapters/kafka.ts';
import type { Logger } from '../adapters/logger.ts';
import type { Registry } from '../adapters/metrics.ts';
import { frameMessages } from '../adapters/power-frames.ts';
import type { Stream } from '../core/types.ts';
import { deadLetterMessage } from './dead-letters.ts';
import {
  parsePowerLine,
  DEFAULT_FIELDS,
  parseCsvHeader,
  parseCsvRow,
  parseRequestLine,
  type CsvHeader,
  type RequestFieldMap,
} from './parse.ts';

export interface CollectorDeps {
  publisher: Publisher;
  topics: Topics;
  log: Logger;
  metrics: Registry;
  /** Hosts that get heartbeats (the fleet's hosts). */
  hosts: readonly string[];
  batchSize?: number;
  /** Event time between heartbeats. */
  heartbeatEveryMs?: number;
  /** How far out of order the input may be: heartbeats trail the newest time by this much. */
  orderSlackMs?: number;
  onProgress?: (lines: number) => void;
}

export interface CollectResult {
  lines: number;
  published: number;
  deadLettered: number;
  heartbeats: number;
  maxEventMs: number;
}

class Batcher {
  private buf: OutMessage[] = [];
  constructor(
    private readonly publisher: Publisher,
    private readonly topic: string,
    private readonly size: number,
  ) {}
  async add(m: OutMessage): Promise<void> {
    this.buf.push(m);
    if (this.buf.length >= this.size) await this.flush();
  }
  async flush(): Promise<void> {
    const b = this.buf;
    this.buf = [];
    await this.publisher.send(this.topic, b);
  }
}

async function run(
  path: string,
  stream: Stream,
  deps: CollectorDeps,
  stage: string,
  handle: (
    line: string,
    n: number,
  ) => { messages: OutMessage[]; tMs: number; source?: string } | { reason: string; message: string } | null,
): Promise<CollectResult> {
  const codec = new AvroCodec();
  const topic = stream === 'requests' ? deps.topics.requests : deps.topics.power;
  const data = new Batcher(deps.publisher, topic, deps.batchSize ?? 1000);
  const dead = new Batcher(deps.publisher, deps.topics.deadletter, 100);
  const published = deps.metrics.counter(
    `joulestream_${stage.replace(/-/g, '_')}_published_total`,
    'Records published to Kafka',
  );
  const deadCount = deps.metrics.counter(
    `joulestream_${stage.replace(/-/g, '_')}_dead_letters_total`,
    'Input lines dead-lettered, by reason',
  );
  const every = deps.heartbeatEveryMs ?? 1000;
  const slack = deps.orderSlackMs ?? 0;
  const res: CollectResult = {
    lines: 0,
    published: 0,
    deadLettered: 0,
    heartbeats: 0,
    maxEventMs: Number.NEGATIVE_INFINITY,
  };
  let lastBeat = Number.NEGATIVE_INFINITY;
  // Power heartbeats name the sources this file carried, so they never vouch for other collectors.
  const sources = new Set<string>();

  const beat = async (tMs: number): Promise<void> => {
    for (const host of deps.hosts) {
      for (const source of stream === 'requests' ? [''] : sources) {
        await data.add({ key: host, value: codec.encode('heartbeat', { host, stream, tMs, source }) });
        res.heartbeats++;
      }
    }
  };

  const rl = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const line of rl) {
    res.lines++;
    if (line.trim() === '' || line.startsWith('#')) continue;
    const r = handle(line, res.lines);
    if (r === null) continue;
    if ('reason' in r) {
      res.deadLettered++;
      deadCount.inc({ reason: r.reason });
      deps.log.warn({ line: res.lines, reason: r.reason }, r.message);
      await dead.add(
        deadLetterMessage(
          codec,
          stage,
          { reason: r.reason, message: r.message, position: `${path}:${res.lines}`, payload: line },
          Date.now(),
        ),
      );
      continue;
    }
    if (r.source !== undefined) sources.add(r.source);
    for (const m of r.messages) await data.add(m);
    res.published += r.messages.length;
    published.inc({}, r.messages.length);
    if (r.tMs > res.maxEventMs) res.maxEventMs = r.tMs;
    if (res.maxEventMs - slack - lastBeat >= every) {
      lastBeat = res.maxEventMs - slack;
      await beat(lastBeat);
    }
    if (res.lines % 10_000 === 0) deps.onProgress?.(res.lines);
  }
  // End of input: everything up to the newest time has been sent.
  if (Number.isFinite(res.maxEventMs)) await beat(res.maxEventMs);
  await data.flush();
  await dead.flush();
  deps.onProgress?.(res.lines);
  return res;
}

export function collectRequestsFile(
  path: string,
  deps: CollectorDeps,
  fields: RequestFieldMap = DEFAULT_FIELDS,
): Promise<CollectResult> {
  const codec = new AvroCodec();
  return run(path, 'requests', deps, 'request-collector', (line) => {
    const p = parseRequestLine(line, fields);
    if (!p.ok) return p;
    const e = codec.tryEncode('request', p.value);
    if (!e.ok) return e;
    return { messages: [{ key: p.value.host, value: e.value }], tMs: p.value.tEndMs };
  });
}

export function collectPowerCsv(
  path: string,
  deps: CollectorDeps,
  defaultHost: string | null = null,
): Promise<CollectResult> {
  const codec = new AvroCodec();
  let header: CsvHeader | null = null;
  return run(path, 'power', deps, 'power-collector', (line) => {
    if (!header) {
      const h = parseCsvHeader(line);
      if (!h.ok) return h;
      header = h.value;
      return null;
    }
    const p = parseCsvRow(line, header, defaultHost);
    if (!p.ok) return p;
    for (const s of p.value) {
      // One row carries several devices' samples; a row with any unencodable one is refused whole,
      // so the dead letter holds the row as written.
      const e = codec.tryEncode('power', s);
      if (!e.ok) return e;
    }
    return {
      // A row is one instant of every device in its columns: one frame per host.
      messages: frameMessages(codec, p.value),
      tMs: p.value[0]!.tMs,
      source: p.value[0]!.source,
    };
  });
}

/** Generic power samples as JSONL (RAPL counters, BMC readings; see parsePowerLine). */
export function collectPowerJsonl(path: string, deps: CollectorDeps): Promise<CollectResult> {
  const codec = new AvroCodec();
  return run(path, 'power', deps, 'power-collector', (line) => {
    const p = parsePowerLine(line);
    if (!p.ok) return p;
    const e = codec.tryEncode('power', p.value);
    if (!e.ok) return e;
    return {
      messages: [{ key: p.value.host, value: e.value }],
      tMs: p.value.tMs,
      source: p.value.source,
    };
  });
}
