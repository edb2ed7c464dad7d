// The joiner killed with SIGKILL at random moments, ten times, over a fixed input: the final
// ClickHouse contents (FINAL) equal those of one clean run, row for row, versions included.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { test } from 'node:test';
import { AvroCodec } from '../services/adapters/avro.ts';
import { createClickHouse, migrate } from '../services/adapters/clickhouse.ts';
import { createKafka, ensureTopics, Publisher, topicsFor } from '../services/adapters/kafka.ts';
import { createLogger } from '../services/adapters/logger.ts';
import { loadConfig, type Env } from '../services/config/config.ts';
import { llama8b, rng, scheduleRequests, simulateReadings } from '../services/sim/fleet-sim.ts';
import { isolatedEnv, waitFor } from './support/stack.ts';
import { readingMessage, requestMessage } from './support/wire.ts';

const startJoiner = (env: Env): ChildProcess =>
  spawn(process.execPath, ['bin/joulestream.js', 'joiner'], {
    env: { ...process.env, ...env },
    stdio: 'ignore',
  });

async function rows(env: Env, sql: string): Promise<Record<string, unknown>[]> {
  const c = loadConfig(env).clickhouse;
  const ch = createClickHouse(c, c.reader, c.database);
  try {
    return await (await ch.query({ query: sql, format: 'JSONEachRow' })).json<Record<string, unknown>>();
  } finally {
    await ch.close();
  }
}

const REQUESTS = 'SELECT * FROM request_energy FINAL ORDER BY request_id, host';
const LEDGER = 'SELECT * FROM host_ledger FINAL ORDER BY host, device_group, window_start_ms';

/** Runs the joiner until every request row is in and the ledger stops growing, then stops it. */
async function runToCompletion(env: Env, requests: number): Promise<void> {
  const child = startJoiner(env);
  let last = -1;
  let stableSince = Date.now();
  await waitFor(
    'all rows',
    async () => {
      const [r] = await rows(
        env,
        'SELECT (SELECT count() FROM request_energy FINAL) AS r, (SELECT count() FROM host_ledger FINAL) AS l',
      );
      const l = Number(r!.l);
      if (l !== last) {
        last = l;
        stableSince = Date.now();
      }
      return Number(r!.r) >= requests && Date.now() - stableSince > 3000;
    },
    120_000,
    500,
  );
  child.kill('SIGTERM');
  await new Promise((r) => child.on('exit', r));
}

test('SIGKILL ten times at random moments: the same final rows as one clean run', async (t) => {
  // A short horizon, so offsets are committed past records and restarts replay from mid-stream; a
  // short session, so a killed member's partitions move to the next life quickly.
  const clean = await isolatedEnv({
    JOULESTREAM_OUT_OF_ORDERNESS_MS: '0',
    JOULESTREAM_ALLOWED_LATENESS_MS: '0',
    JOULESTREAM_HORIZON_MS: '30000',
    JOULESTREAM_MAX_BATCH_ROWS: '500',
    JOULESTREAM_SESSION_TIMEOUT_MS: '6000',
  });
  const crashy: Env = {
    ...clean,
    CLICKHOUSE_DATABASE: `${clean.CLICKHOUSE_DATABASE!}_crash`,
    JOULESTREAM_GROUP_ID: `${clean.JOULESTREAM_GROUP_ID!}-crash`,
  };
  const config = loadConfig(clean);
  await migrate(config.clickhouse);
  await migrate(loadConfig(crashy).clickhouse);
  const kafka = createKafka(config.kafka, createLogger('test', 'warn'));
  const topics = topicsFor(config.kafka.topicPrefix);
  await ensureTopics(kafka, topics, 3);

  // A fixed input: three hosts, one 8B instance per GPU, five minutes of event time.
  const hosts = ['host-a', 'host-b', 'host-c'];
  const instances = hosts.flatMap((h) => [llama8b(h, 0), llama8b(h, 1)]);
  const r = rng(11);
  const trace = Array.from({ length: 600 }, (_, i) => ({
    arrivalMs: i * 500,
    promptTokens: 100 + Math.floor(r.next() * 2000),
    completionTokens: 5 + Math.floor(r.next() * 300),
  }));
  const t0 = Math.floor((Date.now() - 600_000) / 1000) * 1000;
  const requests = scheduleRequests(trace, instances, t0, 1, 4, 'k');
  const tEnd = Math.ceil(Math.max(...requests.map((q) => q.tEndMs)) / 1000) * 1000 + 2000;
  const samples = simulateReadings(requests, instances, { idleW: 70, maxW: 700 }, t0, tEnd);
  const codec = new AvroCodec();
  const publisher = new Publisher(kafka);
  await publisher.connect();
  // The input arrives over about half a minute, so the crashing joiner is killed mid-stream.
  const feeding = (async () => {
    // Requests as engines log them (at their end), interleaved with power in event time.
    const byEnd = [...requests].sort((a, b) => a.tEndMs - b.tEndMs);
    let ri = 0;
    for (let i = 0; i < samples.length; i += 24) {
      const chunk = samples.slice(i, i + 24);
      const until = chunk[chunk.length - 1]!.tMs;
      const reqs = [];
      while (ri < byEnd.length && byEnd[ri]!.tEndMs <= until) reqs.push(requestMessage(codec, byEnd[ri++]!));
      await publisher.send(topics.requests, reqs);
      await new Promise((res) => setTimeout(res, 400));
      await publisher.send(
        topics.power,
        chunk.map((s) => readingMessage(codec, s, 'nvml')),
      );
    }
    const rest = byEnd.slice(ri).map((q) => requestMessage(codec, q));
    await publisher.send(topics.requests, rest);
    for (const stream of ['requests', 'power'] as const)
      await publisher.send(
        stream === 'requests' ? topics.requests : topics.power,
        hosts.map((h) => ({
          key: h,
          value: codec.encode('heartbeat', { host: h, stream, tMs: tEnd + 5000 }),
        })),
      );
    await publisher.disconnect();
  })();

  // Each life is killed at a random moment shortly after it has made progress (new ledger rows),
  // so kills land mid-stream: after some inserts and commits, before others.
  const kills = rng(Date.now() % 100_000);
  // Progress: a newer window than any stored (a row count would move with background merges).
  const ledgerRows = async () =>
    Number((await rows(crashy, 'SELECT max(window_start_ms) AS n FROM host_ledger'))[0]!.n);
  let killedAfterProgress = 0;
  for (let k = 0; k < 10; k++) {
    const before = await ledgerRows();
    const child = startJoiner(crashy);
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && (await ledgerRows()) <= before)
      await new Promise((res) => setTimeout(res, 50));
    if ((await ledgerRows()) > before) killedAfterProgress++;
    await new Promise((res) => setTimeout(res, kills.next() * 1500));
    child.kill('SIGKILL');
    await new Promise((res) => child.on('exit', res));
  }
  t.diagnostic(`${killedAfterProgress} of 10 lives were killed after making progress`);
  assert.ok(killedAfterProgress >= 3, 'kills landed mid-stream');
  await feeding;
  await runToCompletion(crashy, requests.length);
  await runToCompletion(clean, requests.length);

  const [a, b] = await Promise.all([rows(clean, REQUESTS), rows(crashy, REQUESTS)]);
  assert.equal(a.length, requests.length);
  assert.deepEqual(b, a);
  const [la, lb] = await Promise.all([rows(clean, LEDGER), rows(crashy, LEDGER)]);
  assert.ok(la.length > 0);
  assert.deepEqual(lb, la);
});
