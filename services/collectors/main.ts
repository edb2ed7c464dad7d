import { loadFleet } from '../adapters/fleet-file.ts';
import { AvroCodec } from '../adapters/avro.ts';
import {
  createKafka,
  ensureTopics,
  Publisher,
  topicsFor,
  type OutMessage,
  type Topics,
} from '../adapters/kafka.ts';
import { createLogger, type Logger } from '../adapters/logger.ts';
import { ConfigError } from '../config/errors.ts';
import { DEFAULT_FIELDS, parseFieldMap, parseRequestLine, type RequestFieldMap } from './parse.ts';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { Tailer } from './tailer.ts';
import { Registry } from '../adapters/metrics.ts';
import type { Config } from '../config/config.ts';
import { collectPowerCsv, collectPowerJsonl, collectRequestsFile } from './file-collectors.ts';

/** Follows a request log (`collect-requests --follow`) until SIGTERM, resuming at `<file>.pos`. */
async function followRequests(
  file: string,
  deps: { publisher: Publisher; topics: Topics; log: Logger },
  positionFile: string,
  fields: RequestFieldMap,
): Promise<void> {
  const codec = new AvroCodec();
  const tailer = new Tailer(file, positionFile, async (lines) => {
    const requests: OutMessage[] = [];
    const dead: OutMessage[] = [];
    for (const line of lines) {
      const p = parseRequestLine(line, fields);
      if (p.ok) requests.push({ key: p.value.host, value: codec.encode('request', p.value) });
      else {
        deps.log.warn({ reason: p.reason }, p.message);
        dead.push({
          key: 'unknown',
          value: codec.encode('deadletter', {
            reason: p.reason,
            error: `${file}: ${p.message}`,
            stage: 'request-tailer',
            topic: null,
            partition: null,
            offset: null,
            key: null,
            payload: Buffer.from(line.slice(0, 64 * 1024)),
            tMs: Date.now(),
          }),
        });
      }
    }
    await deps.publisher.send(deps.topics.requests, requests);
    await deps.publisher.send(deps.topics.deadletter, dead);
  });
  let stopping = false;
  process.once('SIGTERM', () => (stopping = true));
  process.once('SIGINT', () => (stopping = true));
  deps.log.info({ file, positionFile }, 'following request log');
  while (!stopping) {
    await tailer.poll();
    await new Promise((r) => setTimeout(r, 500));
  }
  await tailer.poll();
  await tailer.close();
}

export async function runFileCollector(
  config: Readonly<Config>,
  stream: 'requests' | 'power',
  file: string,
  host: string | null,
  follow = false,
  fieldsFile: string | null = null,
): Promise<void> {
  let fields = DEFAULT_FIELDS;
  if (fieldsFile) {
    let raw: unknown;
    try {
      raw = parseYaml(readFileSync(fieldsFile, 'utf8'));
    } catch (err) {
      throw new ConfigError(`fields file ${fieldsFile}: ${(err as Error).message}`);
    }
    const f = parseFieldMap(raw, fieldsFile);
    if (!f.ok) throw new ConfigError(f.message);
    fields = f.value;
  }
  const log = createLogger(`collect-${stream}`, config.logLevel);
  const fleet = loadFleet(config.fleetFile);
  const topics = topicsFor(config.kafka.topicPrefix);
  const kafka = createKafka(config.kafka, log);
  await ensureTopics(kafka, topics, config.kafka.partitions);
  const publisher = new Publisher(kafka);
  await publisher.connect();
  try {
    if (follow) {
      if (stream !== 'requests') throw new ConfigError('--follow is for request logs (collect-requests)');
      await followRequests(file, { publisher, topics, log }, `${file}.pos`, fields);
      return;
    }
    const deps = { publisher, topics, log, metrics: new Registry(), hosts: [...fleet.hosts.keys()] };
    // JSONL power files are RAPL/BMC-style samples; anything else is nvidia-smi CSV.
    const res =
      stream === 'requests'
        ? await collectRequestsFile(file, deps, fields)
        : /\.jsonl?$/i.test(file)
          ? await collectPowerJsonl(file, deps)
          : await collectPowerCsv(file, deps, host);
    log.info(res, 'file published');
  } finally {
    await publisher.disconnect();
  }
}
