// The joiner as a long-running service: health and metrics over HTTP, graceful shutdown on SIGTERM
// (stop consuming, flush what is final, commit what is durable, close).

import { createClickHouse } from '../adapters/clickhouse.ts';
import { loadFleet } from '../adapters/fleet-file.ts';
import { startHttp } from '../adapters/http.ts';
import { createKafka, ensureTopics, topicsFor } from '../adapters/kafka.ts';
import { createLogger } from '../adapters/logger.ts';
import { Registry } from '../adapters/metrics.ts';
import { systemClock } from '../adapters/system-clock.ts';
import type { Config } from '../config/config.ts';
import { Joiner } from './joiner.ts';
import { watchAssignment } from './assignment-watch.ts';

export async function runJoinerService(config: Readonly<Config>): Promise<void> {
  const log = createLogger('joiner', config.logLevel);
  const fleet = loadFleet(config.fleetFile, config.gridBasis);
  const topics = topicsFor(config.kafka.topicPrefix);
  const kafka = createKafka(config.kafka, log);
  await ensureTopics(kafka, topics, config.kafka.partitions);
  const clickhouse = createClickHouse(
    config.clickhouse,
    config.clickhouse.writer,
    config.clickhouse.database,
  );
  const metrics = new Registry();
  const joiner = new Joiner({
    config,
    fleet,
    kafka,
    topics,
    clickhouse,
    log,
    metrics,
    clockBounds: config.clock,
  });
  const groupCheck = await watchAssignment(kafka, config.joiner.groupId, topics.requests, log, () =>
    systemClock.nowMs(),
  );
  const http = await startHttp(
    config.httpPort,
    metrics,
    {
      live: () => true,
      ready: () => {
        const s = joiner.status();
        if (!s.running || s.lastError) return { ok: false, reason: s.lastError ?? 'not consuming' };
        return groupCheck(joiner.assignment.check.bind(joiner.assignment));
      },
    },
    config.http,
  );
  log.info(
    { port: http.port, hosts: fleet.hosts.size, topics, database: config.clickhouse.database },
    'joiner started',
  );
  await joiner.start();
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'stopping: flushing and committing');
      joiner
        .stop()
        .catch((err: unknown) => log.error({ err }, 'error while stopping'))
        .finally(() => {
          http.close();
          void clickhouse.close().finally(resolve);
        });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
