// `joulestream redrive` on the real Kafka: matching dead letters go back to their source topics
// with their original bytes and keys, a second run (and two runs at once) sends none of them again,
// a dry run sends nothing, and collector letters (input lines, no source topic) are reported.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import type { Kafka } from 'kafkajs';
import { AvroCodec, type DeadLetter } from '../services/adapters/avro.ts';
import { createKafka, ensureTopics, Publisher, topicsFor, type Topics } from '../services/adapters/kafka.ts';
import { createLogger } from '../services/adapters/logger.ts';
import { redrive } from '../services/cli/redrive.ts';
import { loadConfig } from '../services/config/config.ts';
import type { RequestLog } from '../services/core/types.ts';
import { isolatedEnv } from './support/stack.ts';
import { readTopic } from './support/kafka.ts';

const log = createLogger('test', 'warn');
const codec = new AvroCodec();
let kafka: Kafka;
let topics: Topics;
let prefix: string;
let publisher: Publisher;

const request = (requestId: string): RequestLog => ({
  requestId,
  host: 'host-new',
  gpus: [],
  model: 'm',
  tenant: 't',
  status: 'ok',
  tStartMs: 1_700_000_000_000,
  tEndMs: 1_700_000_001_000,
  tFirstTokenMs: null,
  promptTokens: 1,
  completionTokens: 1,
});
const letter = (over: Partial<DeadLetter>): DeadLetter => ({
  reason: 'unknown-host',
  error: 'host host-new is not in the fleet config; add it there',
  stage: 'joiner',
  topic: topics.requests,
  partition: 0,
  offset: 0,
  key: Buffer.from('host-new'),
  payload: Buffer.alloc(0),
  tMs: Date.now(),
  ...over,
});
const dead = (letters: DeadLetter[]) =>
  publisher.send(
    topics.deadletter,
    letters.map((l) => ({ key: 'host-new', value: codec.encode('deadletter', l) })),
  );
const requestIds = async (n: number) =>
  (await readTopic(kafka, topics.requests, (s) => s.length >= n, 5000))
    .map((d) => (d.value as RequestLog).requestId)
    .sort();

before(async () => {
  const config = loadConfig(await isolatedEnv());
  prefix = config.kafka.topicPrefix;
  kafka = createKafka(config.kafka, log);
  topics = topicsFor(prefix);
  await ensureTopics(kafka, topics, 2);
  publisher = new Publisher(kafka);
  await publisher.connect();
});
after(() => publisher?.disconnect());

test('re-drive sends matching letters back once; a second run and a dry run send nothing', async () => {
  await dead([
    letter({ payload: codec.encode('request', request('a')) }),
    letter({ payload: codec.encode('request', request('b')) }),
    letter({ reason: 'clock-skew', payload: codec.encode('request', request('skewed')) }),
    letter({ stage: 'request-collector', topic: null, payload: Buffer.from('{"bad":') }),
  ]);
  const filter = { reason: 'unknown-host', fromMs: null, toMs: null };
  const dry = await redrive(kafka, topics, prefix, filter, true, log);
  assert.equal(dry.plan.send.length, 2);
  assert.match(dry.summary, /^dry run: would re-drive 2/);
  assert.deepEqual(await requestIds(1), [], 'a dry run sends nothing');

  const first = await redrive(kafka, topics, prefix, filter, false, log);
  assert.deepEqual(first.plan.bySourceTopic, { [topics.requests]: 2 });
  assert.deepEqual(first.plan.notRedrivable, { 'request-collector': 1 });
  assert.match(first.summary, new RegExp(`re-drove 2 .*\\n  2 -> ${topics.requests.replace(/\./g, '\\.')}`));
  const back = await readTopic(kafka, topics.requests, (s) => s.length >= 2);
  assert.deepEqual(back.map((d) => (d.value as RequestLog).requestId).sort(), ['a', 'b']);
  assert.ok(back.every((d) => (d.value as RequestLog).host === 'host-new'));

  const second = await redrive(kafka, topics, prefix, filter, false, log);
  assert.equal(second.plan.send.length, 0);
  assert.equal(second.plan.alreadyRedriven, 2);
  assert.match(second.summary, /skipped 2 already re-driven/);
  assert.deepEqual(await requestIds(3), ['a', 'b'], 'nothing sent twice');
});

test('two runs at the same time: each letter is sent back at most once', async () => {
  await dead([letter({ payload: codec.encode('request', request('c')) })]);
  const filter = { reason: 'unknown-host', fromMs: null, toMs: null };
  const runs = await Promise.allSettled([
    redrive(kafka, topics, prefix, filter, false, log),
    redrive(kafka, topics, prefix, filter, false, log),
  ]);
  // One may be fenced by the other (its transaction aborted): that is the guarantee at work.
  assert.ok(runs.some((r) => r.status === 'fulfilled'));
  assert.deepEqual(await requestIds(4), ['a', 'b', 'c']);
  const again = await redrive(kafka, topics, prefix, filter, false, log);
  assert.equal(again.plan.send.length, 0);
  assert.equal(again.plan.alreadyRedriven, 3);
});

test('--from/--to select by the time a record was dead-lettered', async () => {
  const t0 = Date.now();
  await dead([
    letter({ reason: 'late-host', tMs: t0 - 3_600_000, payload: codec.encode('request', request('old')) }),
    letter({ reason: 'late-host', tMs: t0, payload: codec.encode('request', request('new')) }),
  ]);
  const r = await redrive(
    kafka,
    topics,
    prefix,
    { reason: 'late-host', fromMs: t0 - 60_000, toMs: null },
    false,
    log,
  );
  assert.equal(r.plan.send.length, 1);
  assert.deepEqual(await requestIds(5), ['a', 'b', 'c', 'new']);
});

test('joulestream redrive from the command line: summary on stdout, and --reason is required', async () => {
  const env = { ...(await isolatedEnv()), KAFKA_TOPIC_PREFIX: prefix, LOG_LEVEL: 'silent' };
  const bin = fileURLToPath(new URL('../bin/joulestream.js', import.meta.url));
  const run = (args: string[]) =>
    spawnSync(process.execPath, [bin, 'redrive', ...args], { encoding: 'utf8', env, timeout: 120_000 });
  const dry = run(['--reason', 'unknown-host', '--dry-run']);
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(
    dry.stdout,
    /^dry run: would re-drive 0 dead letters with reason unknown-host\nskipped 3 already re-driven/,
  );
  const missing = run([]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /redrive needs --reason/);
});
