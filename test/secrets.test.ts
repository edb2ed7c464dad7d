// Credentials never reach the logs: the joiner runs at debug level with a wrong ClickHouse password
// (so connection errors are logged) and a SASL password set; neither secret appears in its output.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AvroCodec } from '../services/adapters/avro.ts';
import { createKafka, ensureTopics, Publisher, topicsFor } from '../services/adapters/kafka.ts';
import { createLogger } from '../services/adapters/logger.ts';
import { loadConfig } from '../services/config/config.ts';
import { isolatedEnv } from './support/stack.ts';
import { readingMessage } from './support/wire.ts';

test('secrets from env and files never appear in log output, even at debug level and on errors', async () => {
  const env = await isolatedEnv();
  // Something to insert, so the wrong ClickHouse password is used and its errors are logged.
  const config = loadConfig(env);
  const kafka = createKafka(config.kafka, createLogger('test', 'silent'));
  const topics = topicsFor(config.kafka.topicPrefix);
  await ensureTopics(kafka, topics, 3);
  const codec = new AvroCodec();
  const publisher = new Publisher(kafka);
  await publisher.connect();
  const t0 = Math.floor((Date.now() - 60_000) / 1000) * 1000;
  const host = 'host-a';
  await publisher.send(topics.power, [
    ...[1, 2, 3, 4].map((s) =>
      readingMessage(
        codec,
        {
          kind: 'reading',
          host,
          role: 'accelerator',
          device: '0',
          tMs: t0 + s * 1000,
          powerW: 200,
          averagingMs: 1000,
        },
        'nvml',
      ),
    ),
    { key: host, value: codec.encode('heartbeat', { host, stream: 'power', tMs: t0 + 10_000, source: '' }) },
  ]);
  await publisher.send(topics.requests, [
    { key: host, value: codec.encode('heartbeat', { host, stream: 'requests', tMs: t0 + 10_000 }) },
  ]);
  await publisher.disconnect();
  const dir = mkdtempSync(join(tmpdir(), 'secrets-'));
  const chSecret = 'ch-Secret-7f3a9c0d1e';
  writeFileSync(join(dir, 'writer.password'), chSecret);
  const child = spawn(process.execPath, ['bin/joulestream.js', 'joiner'], {
    env: {
      ...process.env,
      ...env,
      LOG_LEVEL: 'debug',
      CLICKHOUSE_WRITER_PASSWORD_FILE: join(dir, 'writer.password'),
      CLICKHOUSE_WRITER_PASSWORD: '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  await new Promise((r) => setTimeout(r, 8000));
  // ClickHouse refuses every insert: a graceful stop still ends, after its flush deadline.
  const stopped = Date.now();
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  assert.equal(code, 0);
  assert.ok(Date.now() - stopped < 25_000, `stopped in ${Date.now() - stopped} ms`);
  assert.match(out, /ClickHouse insert failed/, 'the wrong password was used and the failure logged');
  assert.ok(!out.includes(chSecret), 'the ClickHouse password is not in the logs');

  // SASL: against the stack's SCRAM listener when there is one (so the password is really used and
  // refused), else against the plain listener; either way it is never echoed, even at debug level.
  const saslBrokers = env.JOULESTREAM_STACK_KAFKA_SASL_BROKERS;
  const sasl = spawn(process.execPath, ['bin/joulestream.js', 'fit-kappa'], {
    env: {
      ...process.env,
      ...env,
      ...(saslBrokers ? { KAFKA_BROKERS: saslBrokers } : {}),
      LOG_LEVEL: 'debug',
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: 'joulestream',
      KAFKA_SASL_PASSWORD: 'sasl-Secret-91b2c3',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out2 = '';
  sasl.stdout.on('data', (b: Buffer) => (out2 += b.toString()));
  sasl.stderr.on('data', (b: Buffer) => (out2 += b.toString()));
  const timer = setTimeout(() => sasl.kill('SIGKILL'), 30_000);
  await new Promise((r) => sasl.on('exit', r));
  clearTimeout(timer);
  if (saslBrokers)
    assert.match(out2, /SASL SCRAM SHA512 authentication failed/, 'the password reached the broker');
  assert.ok(!out2.includes('sasl-Secret-91b2c3'), 'the SASL password is not in the output');
  if (saslBrokers) {
    // The right password, from a file, at debug level: connects, and the secret is not in the output.
    const real = readFileSync(env.JOULESTREAM_STACK_KAFKA_SCRAM_PASSWORD_FILE!, 'utf8').trim();
    const ok = spawn(process.execPath, ['bin/joulestream.js', 'fit-kappa'], {
      env: {
        ...process.env,
        ...env,
        KAFKA_BROKERS: saslBrokers,
        LOG_LEVEL: 'debug',
        KAFKA_SASL_MECHANISM: 'scram-sha-512',
        KAFKA_SASL_USERNAME: 'joulestream',
        KAFKA_SASL_PASSWORD_FILE: env.JOULESTREAM_STACK_KAFKA_SCRAM_PASSWORD_FILE,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out3 = '';
    ok.stdout.on('data', (b: Buffer) => (out3 += b.toString()));
    ok.stderr.on('data', (b: Buffer) => (out3 += b.toString()));
    const code3 = await new Promise<number | null>((r) => ok.on('exit', r));
    assert.equal(code3, 0, out3.slice(-2000));
    assert.match(out3, /replayed \d+ records/);
    assert.ok(!out3.includes(real), 'the SCRAM password is not in the output');
  }
});
