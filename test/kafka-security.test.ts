// Kafka security against the local broker's SASL/SCRAM listeners (in clear and over TLS with the
// stack's own CA): the same client factory every service uses connects with the right settings, the
// joiner runs over SASL_SSL end to end, and a wrong password or an untrusted certificate is refused.
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AvroCodec } from '../services/adapters/avro.ts';
import { createClickHouse, migrate } from '../services/adapters/clickhouse.ts';
import { loadFleet } from '../services/adapters/fleet-file.ts';
import { createKafka, ensureTopics, Publisher, topicsFor } from '../services/adapters/kafka.ts';
import { createLogger } from '../services/adapters/logger.ts';
import { Registry } from '../services/adapters/metrics.ts';
import { loadConfig, type Env } from '../services/config/config.ts';
import { Joiner } from '../services/joiner/joiner.ts';
import { readTopic } from './support/kafka.ts';
import { readingMessage } from './support/wire.ts';
import { isolatedEnv, waitFor } from './support/stack.ts';

const log = createLogger('test', 'silent');

/** The stack's SASL endpoints, or null when this run does not use the native stack. */
async function saslEnv(): Promise<Env | null> {
  const env = await isolatedEnv();
  return env.JOULESTREAM_STACK_KAFKA_SASL_BROKERS ? env : null;
}

const over = (env: Env, listener: 'sasl' | 'sasl_ssl', extra: Env = {}): Env => ({
  ...env,
  KAFKA_BROKERS:
    listener === 'sasl'
      ? env.JOULESTREAM_STACK_KAFKA_SASL_BROKERS
      : env.JOULESTREAM_STACK_KAFKA_SASL_SSL_BROKERS,
  KAFKA_SASL_MECHANISM: listener === 'sasl' ? 'scram-sha-256' : 'scram-sha-512',
  KAFKA_SASL_USERNAME: env.JOULESTREAM_STACK_KAFKA_SCRAM_USER,
  KAFKA_SASL_PASSWORD_FILE: env.JOULESTREAM_STACK_KAFKA_SCRAM_PASSWORD_FILE,
  ...(listener === 'sasl_ssl' ? { KAFKA_SSL_CA_FILE: env.JOULESTREAM_STACK_KAFKA_CA_FILE } : {}),
  ...extra,
});

async function roundTrip(env: Env): Promise<void> {
  const config = loadConfig(env);
  const kafka = createKafka(config.kafka, log);
  const topics = topicsFor(config.kafka.topicPrefix);
  await ensureTopics(kafka, topics, 1);
  const codec = new AvroCodec();
  const p = new Publisher(kafka);
  await p.connect();
  try {
    await p.send(topics.power, [
      { key: 'h', value: codec.encode('heartbeat', { host: 'h', stream: 'power', tMs: 42, source: 's' }) },
    ]);
  } finally {
    await p.disconnect();
  }
  const seen = await readTopic(kafka, topics.power, (s) => s.length >= 1, 20_000);
  assert.equal(seen.length, 1);
}

test('SCRAM-SHA-256 in clear and SCRAM-SHA-512 over TLS: produce and consume', async (t) => {
  const env = await saslEnv();
  if (!env) return t.skip('the broker is not this run’s native stack, which has the SASL listeners');
  await roundTrip(over(env, 'sasl'));
  await roundTrip(over(env, 'sasl_ssl'));
});

test('a wrong SCRAM password and an untrusted certificate are refused with clear errors', async (t) => {
  const env = await saslEnv();
  if (!env) return t.skip('the broker is not this run’s native stack, which has the SASL listeners');
  const dir = mkdtempSync(join(tmpdir(), 'sasl-'));
  writeFileSync(join(dir, 'wrong'), 'not-the-password');
  await assert.rejects(
    roundTrip(over(env, 'sasl', { KAFKA_SASL_PASSWORD_FILE: join(dir, 'wrong') })),
    (err) => /SASL|authenticat/i.test(String(err)),
  );
  // TLS on, but without the local CA: the broker's certificate must not be accepted.
  await assert.rejects(
    roundTrip(over(env, 'sasl_ssl', { KAFKA_SSL_CA_FILE: undefined, KAFKA_SSL: 'true' })),
    (err) => /certificate|self.signed|verify/i.test(String(err)),
  );
});

test('the joiner runs over SASL_SSL: records in, rows in ClickHouse', async (t) => {
  const base = await saslEnv();
  if (!base) return t.skip('the broker is not this run’s native stack, which has the SASL listeners');
  const env = over(base, 'sasl_ssl', {
    JOULESTREAM_OUT_OF_ORDERNESS_MS: '0',
    JOULESTREAM_ALLOWED_LATENESS_MS: '0',
  });
  const config = loadConfig(env);
  await migrate(config.clickhouse);
  const kafka = createKafka(config.kafka, log);
  const topics = topicsFor(config.kafka.topicPrefix);
  await ensureTopics(kafka, topics, 1);
  const writer = createClickHouse(config.clickhouse, config.clickhouse.writer, config.clickhouse.database);
  const reader = createClickHouse(config.clickhouse, config.clickhouse.reader, config.clickhouse.database);
  const joiner = new Joiner({
    config,
    fleet: loadFleet(config.fleetFile),
    kafka,
    topics,
    clickhouse: writer,
    log,
    metrics: new Registry(),
  });
  await joiner.start();
  try {
    const codec = new AvroCodec();
    const p = new Publisher(kafka);
    await p.connect();
    const t0 = Math.floor((Date.now() - 60_000) / 1000) * 1000;
    await p.send(topics.requests, [
      {
        key: 'host-a',
        value: codec.encode('request', {
          requestId: 'sasl-1',
          host: 'host-a',
          gpus: [0],
          model: 'llama-3.1-8b',
          tenant: 't',
          tStartMs: t0 + 1000,
          tFirstTokenMs: null,
          tEndMs: t0 + 4000,
          promptTokens: 10,
          completionTokens: 20,
          status: 'ok',
        }),
      },
    ]);
    await p.send(
      topics.power,
      Array.from({ length: 8 }, (_, i) =>
        readingMessage(
          codec,
          {
            kind: 'reading',
            host: 'host-a',
            role: 'accelerator',
            device: '0',
            tMs: t0 + i * 1000,
            powerW: 200,
            averagingMs: 1000,
          },
          'nvml',
        ),
      ),
    );
    for (const stream of ['requests', 'power'] as const)
      await p.send(stream === 'requests' ? topics.requests : topics.power, [
        { key: 'host-a', value: codec.encode('heartbeat', { host: 'host-a', stream, tMs: t0 + 10_000 }) },
      ]);
    await p.disconnect();
    const rows = await waitFor('the request row', async () => {
      const r = await (
        await reader.query({
          query: 'SELECT request_id, it_j FROM request_energy FINAL',
          format: 'JSONEachRow',
        })
      ).json<{ request_id: string; it_j: number }>();
      return r.length > 0 ? r : undefined;
    });
    assert.equal(rows[0]!.request_id, 'sasl-1');
    assert.ok(rows[0]!.it_j > 0);
  } finally {
    await joiner.stop();
    await writer.close();
    await reader.close();
  }
});
