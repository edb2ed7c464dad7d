import { loadFleet } from '../adapters/fleet-file.ts';
import { createKafka, ensureTopics, Publisher, topicsFor } from '../adapters/kafka.ts';
import { createLogger } from '../adapters/logger.ts';
import { Registry } from '../adapters/metrics.ts';
import type { Config } from '../config/config.ts';
import { collectPowerCsv, collectPowerJsonl, collectRequestsFile } from './file-collectors.ts';

export async function runFileCollector(
  config: Readonly<Config>,
  stream: 'requests' | 'power',
  file: string,
  host: string | null,
): Promise<void> {
  const log = createLogger(`collect-${stream}`, config.logLevel);
  const fleet = loadFleet(config.fleetFile);
  const topics = topicsFor(config.kafka.topicPrefix);
  const kafka = createKafka(config.kafka, log);
  await ensureTopics(kafka, topics, config.kafka.partitions);
  const publisher = new Publisher(kafka);
  await publisher.connect();
  try {
    const deps = { publisher, topics, log, metrics: new Registry(), hosts: [...fleet.hosts.keys()] };
    // JSONL power files are RAPL/BMC-style samples; anything else is nvidia-smi CSV.
    const res =
      stream === 'requests'
        ? await collectRequestsFile(file, deps)
        : /\.jsonl?$/i.test(file)
          ? await collectPowerJsonl(file, deps)
          : await collectPowerCsv(file, deps, host);
    log.info(res, 'file published');
  } finally {
    await publisher.disconnect();
  }
}
