// Where integration tests find Kafka and ClickHouse: endpoints given in the environment win; else a
// Docker engine, if one answers, runs them through testcontainers; else the native stack scripts.

import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { ServerControl } from '../../services/chaos/faults.ts';
import { nativeControl, nativeStackUp } from '../../services/chaos/native-stack.ts';
import type { Env } from '../../services/config/config.ts';
import type * as TestcontainersModule from 'testcontainers';

type Testcontainers = typeof TestcontainersModule;

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export type StackChoice = 'env' | 'docker' | 'native';

export function chooseStack(env: Env, dockerAnswers: boolean): StackChoice {
  if (env.KAFKA_BROKERS && env.CLICKHOUSE_URL) return 'env';
  return dockerAnswers ? 'docker' : 'native';
}

/**
 * testcontainers itself. A module that fails to load is a broken install (testcontainers 12 locks an
 * undici that needs Node >= 22.19 and threw on Node 20 at import), not the absence of Docker: it is
 * an error that names the cause, never a quiet switch to the native stack.
 */
export async function loadTestcontainers(
  load: () => Promise<Testcontainers> = () => import('testcontainers'),
): Promise<Testcontainers> {
  try {
    return await load();
  } catch (err) {
    throw new Error(
      `testcontainers could not be loaded on Node ${process.version}: ${(err as Error).message}. ` +
        'package.json pins a version that loads on Node 20; run npm ci, or set KAFKA_BROKERS and CLICKHOUSE_URL to skip it',
      { cause: err },
    );
  }
}

/** Why the last dockerAnswers() said no (for the log of a run that fell back to the native stack). */
export let noDockerReason: string | null = null;

/** True when a container runtime answers within a few seconds (testcontainers' own detection). */
export async function dockerAnswers(): Promise<boolean> {
  const { getContainerRuntimeClient } = await loadTestcontainers();
  try {
    await Promise.race([
      getContainerRuntimeClient(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('no answer within 5 s')), 5000)),
    ]);
    return true;
  } catch (err) {
    // No engine (no socket, no DOCKER_HOST, or it does not answer): the native stack is the answer.
    noDockerReason = (err as Error).message;
    return false;
  }
}

let cached: Promise<Env> | null = null;

/** The endpoint environment for this test process, starting a stack if needed (once per process). */
export function stackEnv(): Promise<Env> {
  cached ??= (async () => {
    const choice = chooseStack(process.env, !process.env.KAFKA_BROKERS && (await dockerAnswers()));
    if (choice === 'env') return process.env;
    if (choice === 'docker') return { ...process.env, ...(await startWithTestcontainers()) };
    if (noDockerReason) process.stderr.write(`[stack] no Docker engine (${noDockerReason}): native stack\n`);
    return { ...process.env, ...(await nativeStackUp()) };
  })();
  return cached;
}

/** Same images and users as docker-compose.yml. */
async function startWithTestcontainers(): Promise<Record<string, string>> {
  const { GenericContainer, Wait } = await loadTestcontainers();
  const adminPw = randomBytes(12).toString('hex');
  const kafka = await new GenericContainer('apache/kafka:4.1.1')
    .withExposedPorts({ container: 19092, host: 19092 })
    .withEnvironment({
      KAFKA_NODE_ID: '1',
      KAFKA_PROCESS_ROLES: 'broker,controller',
      KAFKA_LISTENERS: 'PLAINTEXT://:19092,CONTROLLER://:9093',
      KAFKA_ADVERTISED_LISTENERS: 'PLAINTEXT://127.0.0.1:19092',
      KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
      KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
      KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
      KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
    })
    .withWaitStrategy(Wait.forLogMessage(/Kafka Server started/))
    .start();
  const ch = await new GenericContainer('clickhouse/clickhouse-server:25.8')
    .withExposedPorts(8123)
    .withEnvironment({
      CLICKHOUSE_USER: 'joulestream_admin',
      CLICKHOUSE_PASSWORD: adminPw,
      CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT: '1',
    })
    .withWaitStrategy(Wait.forHttp('/ping', 8123))
    .start();
  const url = `http://${ch.getHost()}:${ch.getMappedPort(8123)}`;
  const writerPw = randomBytes(12).toString('hex');
  const readerPw = randomBytes(12).toString('hex');
  const sql = async (q: string) => {
    const res = await fetch(url, {
      method: 'POST',
      body: q,
      headers: { authorization: 'Basic ' + Buffer.from(`joulestream_admin:${adminPw}`).toString('base64') },
    });
    if (!res.ok) throw new Error(`${q}: ${await res.text()}`);
  };
  await sql(`CREATE USER IF NOT EXISTS joulestream_writer IDENTIFIED BY '${writerPw}'`);
  await sql(`CREATE USER IF NOT EXISTS joulestream_reader IDENTIFIED BY '${readerPw}' SETTINGS readonly = 2`);
  await sql('GRANT INSERT, SELECT ON *.* TO joulestream_writer');
  await sql('GRANT SELECT ON *.* TO joulestream_reader');
  return {
    KAFKA_BROKERS: `${kafka.getHost()}:19092`,
    CLICKHOUSE_URL: url,
    CLICKHOUSE_ADMIN_USER: 'joulestream_admin',
    CLICKHOUSE_ADMIN_PASSWORD: adminPw,
    CLICKHOUSE_WRITER_USER: 'joulestream_writer',
    CLICKHOUSE_WRITER_PASSWORD: writerPw,
    CLICKHOUSE_READER_USER: 'joulestream_reader',
    CLICKHOUSE_READER_PASSWORD: readerPw,
  };
}

/** A config environment with a database and topic prefix of its own, so tests never share state. */
export async function isolatedEnv(extra: Record<string, string> = {}): Promise<Env> {
  const env = await stackEnv();
  const id = randomBytes(4).toString('hex');
  return {
    ...env,
    CLICKHOUSE_DATABASE: `js_test_${id}`,
    KAFKA_TOPIC_PREFIX: `js-test-${id}.`,
    JOULESTREAM_GROUP_ID: `js-test-${id}`,
    JOULESTREAM_FLEET: ROOT + 'test/fixtures/fleet.test.yaml',
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
  everyMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Stops and starts the servers of the native stack, for outage tests; null when the endpoints come
 * from the environment or Docker, where this test process does not own the servers.
 */
export async function stackControl(): Promise<typeof nativeControl | null> {
  await stackEnv();
  if (chooseStack(process.env, false) !== 'native' || (await dockerAnswers())) return null;
  return nativeControl;
}

export async function kafkaControl(): Promise<ServerControl | null> {
  return (await stackControl())?.kafka ?? null;
}
