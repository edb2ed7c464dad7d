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
import { deadLetterMessage } from './dead-letters.ts';
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
  const tailer = new Tailer(file, positionFile, async (lines, offsets) => {
    const requests: OutMessage[] = [];
    const dead: OutMessage[] = [];
    lines.forEach((line, i) => {
      const p = parseRequestLine(line, fields);
      // Each line stands alone: one that does not parse or encode is dead-lettered, the rest land.
      const e = p.ok ? codec.tryEncode('request', p.value) : p;
      if (p.ok && e.ok) requests.push({ key: p.value.host, value: e.value });
      else if (!e.ok) {
        deps.log.warn({ reason: e.reason, file, byteOffset: offsets[i] }, e.message);
        dead.push(
          deadLetterMessage(
            codec,
            'request-tailer',
            { reason: e.reason, message: e.message, position: `${file}@${offsets[i]}`, payload: line },
            Date.now(),
          ),
        );
      }
    });
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
