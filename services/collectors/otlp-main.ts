// `joulestream receive-otlp`: the OTLP/HTTP trace receiver as a service. Traces on
// JOULESTREAM_OTLP_PORT (default 4318, OTLP's HTTP port); health and metrics on JOULESTREAM_HTTP_PORT.

import { loadFleet } from '../adapters/fleet-file.ts';
import { startHttp } from '../adapters/http.ts';
import { createKafka, ensureTopics, topicsFor } from '../adapters/kafka.ts';
import { openSender } from '../adapters/spool.ts';
import { createLogger } from '../adapters/logger.ts';
import { Registry } from '../adapters/metrics.ts';
import type { Config } from '../config/config.ts';
import { ConfigError } from '../config/errors.ts';
import { BearerTokens } from '../adapters/ingress-auth.ts';
import { OtlpReceiver } from './otlp-receiver.ts';

export async function runOtlpReceiver(config: Readonly<Config>, _env?: NodeJS.ProcessEnv): Promise<void> {
  const { port, tokensFile, tls } = config.otlp;
  let tokens: BearerTokens | null = null;
  try {
    tokens = tokensFile ? new BearerTokens(tokensFile) : null;
  } catch (err) {
    throw new ConfigError(`JOULESTREAM_OTLP_TOKENS_FILE: ${(err as Error).message}`);
  }
  const log = createLogger('otlp-receiver', config.logLevel);
  const fleet = loadFleet(config.fleetFile);
  const topics = topicsFor(config.kafka.topicPrefix);
  const kafka = createKafka(config.kafka, log);
  await ensureTopics(kafka, topics, config.kafka.partitions);
  const out = await openSender(kafka, config.spool, log);
  const metrics = new Registry();
  const receiver = new OtlpReceiver({
    publisher: out.sender,
    topics,
    log,
    metrics,
    instances: fleet.instances ?? new Map(),
    maxBodyBytes: config.otlp.maxBodyBytes,
    maxDecodedBytes: config.otlp.maxDecodedBytes,
    limits: config.http,
    ...(tokens || tls?.clientCa ? { auth: { tokens, mutualTls: Boolean(tls?.clientCa) } } : {}),
    ...(tls ? { tls } : {}),
  });
  const traces = await receiver.listen(port);
  let stopping = false;
  const http = await startHttp(
    config.httpPort,
    metrics,
    {
      live: () => true,
      ready: () => (stopping ? { ok: false, reason: 'stopping' } : { ok: true }),
    },
    config.http,
  );
  log.info(
    {
      port: traces.port,
      healthPort: http.port,
      tls: Boolean(tls),
      mutualTls: Boolean(tls?.clientCa),
      tokens: Boolean(tokens),
    },
    'OTLP receiver listening on /v1/traces',
  );
  await new Promise<void>((resolve) => {
    const stop = () => {
      stopping = true;
      // Stop accepting, let exports in flight finish (their records are then in Kafka), then close.
      traces.close(() => {
        void out.close().finally(() => {
          http.close();
          resolve();
        });
      });
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
