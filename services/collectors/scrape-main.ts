// `joulestream scrape --targets targets.yaml`: the scraper as a service, with /metrics, /healthz,
// /readyz and a graceful stop on SIGTERM (the scrape in flight finishes and is published).

import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { startHttp } from '../adapters/http.ts';
import { createKafka, ensureTopics, topicsFor } from '../adapters/kafka.ts';
import { openSender } from '../adapters/spool.ts';
import { createLogger } from '../adapters/logger.ts';
import { Registry } from '../adapters/metrics.ts';
import type { Config } from '../config/config.ts';
import { ConfigError } from '../config/errors.ts';
import type { ScrapeTarget } from './prom-power.ts';
import { Scraper } from './scraper.ts';

/** Validates a targets file: `{ intervalMs?, targets: [{ url, kind: dcgm|node, host?, raplRangeJ? }] }`. */
export function parseTargets(raw: unknown, where: string): { intervalMs: number; targets: ScrapeTarget[] } {
  const o = raw as { intervalMs?: unknown; targets?: unknown } | null;
  if (!o || typeof o !== 'object' || !Array.isArray(o.targets) || o.targets.length === 0)
    throw new ConfigError(`${where}: expected "targets:" with at least one target`);
  const intervalMs = o.intervalMs === undefined ? 1000 : Number(o.intervalMs);
  if (!Number.isInteger(intervalMs) || intervalMs < 100 || intervalMs > 3_600_000)
    throw new ConfigError(`${where}: intervalMs must be an integer from 100 to 3600000`);
  const targets = o.targets.map((t: unknown, i: number): ScrapeTarget => {
    const at = `${where}: targets[${i}]`;
    const x = t as Record<string, unknown>;
    if (!x || typeof x !== 'object') throw new ConfigError(`${at} must be a mapping`);
    if (typeof x.url !== 'string' || !/^https?:\/\//.test(x.url))
      throw new ConfigError(`${at}.url must be an http(s) URL`);
    if (x.kind !== 'dcgm' && x.kind !== 'node') throw new ConfigError(`${at}.kind must be dcgm or node`);
    if (x.host !== undefined && (typeof x.host !== 'string' || x.host === ''))
      throw new ConfigError(`${at}.host must be a non-empty string`);
    if (x.kind === 'node' && x.host === undefined)
      throw new ConfigError(`${at}: node_exporter targets need host (their metrics carry no host label)`);
    if (x.raplRangeJ !== undefined && !(typeof x.raplRangeJ === 'number' && x.raplRangeJ > 0))
      throw new ConfigError(`${at}.raplRangeJ must be a positive number of joules`);
    return {
      url: x.url,
      kind: x.kind,
      ...(typeof x.host === 'string' ? { host: x.host } : {}),
      ...(typeof x.raplRangeJ === 'number' ? { raplRangeJ: x.raplRangeJ } : {}),
    };
  });
  return { intervalMs, targets };
}

export async function runScraper(config: Readonly<Config>, targetsFile: string): Promise<void> {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(targetsFile, 'utf8'));
  } catch (err) {
    throw new ConfigError(`targets file ${targetsFile}: ${(err as Error).message}`);
  }
  const { intervalMs, targets } = parseTargets(raw, targetsFile);
  const log = createLogger('scraper', config.logLevel);
  const topics = topicsFor(config.kafka.topicPrefix);
  const kafka = createKafka(config.kafka, log);
  await ensureTopics(kafka, topics, config.kafka.partitions);
  const out = await openSender(kafka, config.spool, log);
  const metrics = new Registry();
  const scraper = new Scraper({ publisher: out.sender, topics, log, metrics });
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
  log.info({ port: http.port, targets: targets.length, intervalMs }, 'scraper started');
  process.once('SIGTERM', () => stop.abort());
  process.once('SIGINT', () => stop.abort());
  await scraper.run(targets, intervalMs, stop.signal);
  await out.close();
  http.close();
  log.info('scraper stopped');
}
