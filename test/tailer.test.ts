// `joulestream collect-requests --follow` as a user runs it: lines appended to a gateway log reach
// Kafka; after SIGTERM and a restart, only new lines are published (the position file).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { createKafka, ensureTopics, topicsFor } from '../services/adapters/kafka.ts';
import { createLogger } from '../services/adapters/logger.ts';
import { loadConfig, type Env } from '../services/config/config.ts';
import { readTopic } from './support/kafka.ts';
import { isolatedEnv } from './support/stack.ts';

// The gateway's own key names (rid, node, t0, t1), mapped by a --fields file.
const line = (id: string) =>
  JSON.stringify({ rid: id, node: 'host-a', gpus: [0], model: 'm', t0: 1000, t1: 2000 }) + '\n';

async function follow(env: Env, file: string, untilLines: () => boolean): Promise<void> {
  const fields = join(dirname(file), 'fields.yaml');
  writeFileSync(fields, 'requestId: rid\nhost: node\ntStartMs: t0\ntEndMs: t1\n');
  const child = spawn(
    process.execPath,
    ['bin/joulestream.js', 'collect-requests', '--file', file, '--follow', '--fields', fields],
    {
      env: { ...process.env, ...env },
      stdio: 'ignore',
    },
  );
  const deadline = Date.now() + 20_000;
  while (!untilLines() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  child.kill('SIGTERM');
  assert.equal(await new Promise((r) => child.on('exit', r)), 0);
}

test('collect-requests --follow publishes appended lines once across a restart', async () => {
  const env = await isolatedEnv();
  const config = loadConfig(env);
  const kafka = createKafka(config.kafka, createLogger('test', 'warn'));
  const topics = topicsFor(config.kafka.topicPrefix);
  await ensureTopics(kafka, topics, 3);
  const dir = mkdtempSync(join(tmpdir(), 'follow-'));
  const file = join(dir, 'gateway.jsonl');
  writeFileSync(file, line('r1') + line('r2'));
  const count = async () => (await readTopic(kafka, topics.requests, () => false, 1500)).length;
  let n = 0;
  await follow(env, file, () => {
    void count().then((c) => (n = c));
    return n >= 2;
  });
  appendFileSync(file, line('r3') + '{broken\n');
  await follow(env, file, () => {
    void count().then((c) => (n = c));
    return n >= 3;
  });
  const all = await readTopic(kafka, topics.requests, (s) => s.length >= 3, 5000);
  assert.deepEqual(
    all.map((d) => (d.value as { requestId: string }).requestId),
    ['r1', 'r2', 'r3'],
  );
  const dead = await readTopic(kafka, topics.deadletter, (s) => s.length >= 1, 5000);
  const letter = dead[0]!.value as { reason: string; error: string; payload: Buffer };
  assert.equal(letter.reason, 'malformed-json');
  // The source position is the bad line's byte offset: right after r1, r2 and r3.
  assert.ok(letter.error.startsWith(`${file}@${3 * Buffer.byteLength(line('r1'))}: `), letter.error);
  assert.equal(letter.payload.toString(), '{broken');
});
