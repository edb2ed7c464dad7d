// `joulestream grid-poll --config grid.yaml` polls Electricity Maps and/or WattTime every
// intervalMs; `joulestream grid-import --file F.csv` publishes a CSV once. Both write the compacted
// grid topic keyed by zone. API keys come from env or files, never from the config file:
// ELECTRICITYMAPS_API_KEY, WATTTIME_USERNAME, WATTTIME_PASSWORD (each also as *_FILE).
//
//   intervalMs: 900000
//   electricityMaps: { zones: [FR, DE, SE] }
//   wattTime: { regions: { PJM_DC: US-MIDA-PJM } }

import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { deadLetterMessage, encodeEach, type Unusable } from './dead-letters.ts';
import { toUnusable, UnusableAnswerError } from './unusable-answer.ts';
import { AvroCodec, type GridIntensity } from '../adapters/avro.ts';
import { startHttp } from '../adapters/http.ts';
import { createKafka, ensureTopics, topicsFor, type Topics } from '../adapters/kafka.ts';
import { createLogger } from '../adapters/logger.ts';
import { Registry } from '../adapters/metrics.ts';
import { openSender, type Sender } from '../adapters/spool.ts';
import { secret, type Config, type Env } from '../config/config.ts';
import { ConfigError } from '../config/errors.ts';
import { parseGridCsv, pollGrid, type GridFeedConfig } from './grid.ts';

const ZONE = /^[A-Za-z0-9_.:-]{1,64}$/;

export function parseGridConfig(
  raw: unknown,
  where: string,
  env: Env,
): { intervalMs: number; feeds: GridFeedConfig } {
  const o = (raw ?? {}) as Record<string, unknown>;
  const intervalMs = o.intervalMs === undefined ? 900_000 : Number(o.intervalMs);
  if (!Number.isInteger(intervalMs) || intervalMs < 60_000)
    throw new ConfigError(
      `${where}: intervalMs must be an integer of at least 60000 (the providers update hourly or every 5 min)`,
    );
  const feeds: GridFeedConfig = {};
  const em = o.electricityMaps as { zones?: unknown; baseUrl?: unknown } | undefined;
  if (em) {
    if (!Array.isArray(em.zones) || !em.zones.every((z) => typeof z === 'string' && ZONE.test(z)))
      throw new ConfigError(`${where}: electricityMaps.zones must be a list of zone ids`);
    const apiKey = secret(env, 'ELECTRICITYMAPS_API_KEY');
    if (!apiKey)
      throw new ConfigError(
        'electricityMaps needs ELECTRICITYMAPS_API_KEY (or ELECTRICITYMAPS_API_KEY_FILE)',
      );
    feeds.electricityMaps = {
      zones: em.zones as string[],
      apiKey,
      ...(typeof em.baseUrl === 'string' ? { baseUrl: em.baseUrl } : {}),
    };
  }
  const wt = o.wattTime as { regions?: unknown; baseUrl?: unknown } | undefined;
  if (wt) {
    const regions = wt.regions as Record<string, unknown> | undefined;
    if (
      !regions ||
      typeof regions !== 'object' ||
      !Object.values(regions).every((z) => typeof z === 'string' && ZONE.test(z))
    )
      throw new ConfigError(`${where}: wattTime.regions must map WattTime regions to zone ids`);
    const username = secret(env, 'WATTTIME_USERNAME');
    const password = secret(env, 'WATTTIME_PASSWORD');
    if (!username || !password)
      throw new ConfigError('wattTime needs WATTTIME_USERNAME and WATTTIME_PASSWORD (or *_FILE)');
    feeds.wattTime = {
      regions: regions as Record<string, string>,
      username,
      password,
      ...(typeof wt.baseUrl === 'string' ? { baseUrl: wt.baseUrl } : {}),
    };
  }
  if (!feeds.electricityMaps && !feeds.wattTime)
    throw new ConfigError(`${where}: configure electricityMaps and/or wattTime`);
  return { intervalMs, feeds };
}

/** Publishes each value alone: one the wire cannot carry is dead-lettered; returns how many were. */
export async function publishGrid(
  sender: Sender,
  topics: Topics,
  values: readonly GridIntensity[],
  extraUnusable: readonly Unusable[] = [],
): Promise<number> {
  const codec = new AvroCodec();
  const enc = encodeEach(
    values,
    (v) => codec.tryEncode('grid', v),
    (v) => v.zone,
    (v) => `${v.source} ${v.zone}`,
  );
  await sender.send(topics.grid, enc.messages);
  const dead = [...extraUnusable, ...enc.unusable];
  await sender.send(
    topics.deadletter,
    dead.map((u) => deadLetterMessage(codec, 'grid', u, Date.now())),
  );
  return dead.length;
}

async function open(config: Readonly<Config>, name: string) {
  const log = createLogger(name, config.logLevel);
  const topics = topicsFor(config.kafka.topicPrefix);
  const kafka = createKafka(config.kafka, log);
  await ensureTopics(kafka, topics, config.kafka.partitions);
  const out = await openSender(kafka, config.spool, log);
  return { log, topics, out };
}

export async function runGridImport(config: Readonly<Config>, file: string): Promise<void> {
  const text = readFileSync(file, 'utf8');
  const { values, errors } = parseGridCsv(text);
  if (values.length === 0 && errors.length > 0) throw new ConfigError(`${file}: ${errors[0]}`);
  // Bad lines are dead-lettered one by one (the line as payload); the good ones are imported.
  const lines = text.split('\n');
  const unusable: Unusable[] = errors.map((e) => {
    const n = Number(/^line (\d+):/.exec(e)?.[1] ?? 0);
    return { reason: 'invalid-field', message: e, position: `${file}:${n}`, payload: lines[n - 1] ?? e };
  });
  const { log, topics, out } = await open(config, 'grid-import');
  const dead = await publishGrid(out.sender, topics, values, unusable);
  await out.close();
  log.info({ file, values: values.length, deadLettered: dead }, 'grid intensities published');
  process.stdout.write(
    `published ${values.length} intensities from ${file} to ${topics.grid}; ${dead} lines dead-lettered\n`,
  );
}

export async function runGridPoller(config: Readonly<Config>, file: string, env: Env): Promise<void> {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`config file ${file}: ${(err as Error).message}`);
  }
  const { intervalMs, feeds } = parseGridConfig(raw, file, env);
  const { log, topics, out } = await open(config, 'grid-poll');
  const metrics = new Registry();
  const published = metrics.counter('joulestream_grid_values_total', 'Intensities published, by source');
  const errors = metrics.counter('joulestream_grid_errors_total', 'Failed zone polls, by zone');
  const stop = new AbortController();
  const http = await startHttp(
    config.httpPort,
    metrics,
    { live: () => true, ready: () => ({ ok: true }) },
    config.http,
  );
  process.once('SIGTERM', () => stop.abort());
  process.once('SIGINT', () => stop.abort());
  while (!stop.signal.aborted) {
    const unusable: Unusable[] = [];
    const values = await pollGrid(feeds, (zone, err) => {
      errors.inc({ zone });
      log.warn({ zone, err: err.message }, 'grid poll failed');
      if (err instanceof UnusableAnswerError) unusable.push(toUnusable(err, zone));
    });
    await publishGrid(out.sender, topics, values, unusable);
    for (const v of values) published.inc({ source: v.source });
    await new Promise<void>((r) => {
      const t = setTimeout(r, intervalMs);
      stop.signal.addEventListener('abort', () => {
        clearTimeout(t);
        r();
      });
    });
  }
  await out.close();
  http.close();
}
