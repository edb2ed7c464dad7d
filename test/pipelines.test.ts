// Two pipelines (different KAFKA_TOPIC_PREFIX) on one broker: by default each joiner's group is its
// own (derived from the prefix); and when an operator gives both the same JOULESTREAM_GROUP_ID the
// co-partitioned assignor still gives each member only the partitions of the topics it subscribed
// to. Before, the second pipeline's member was handed two of the first pipeline's four partitions,
// ignored them ("unsubscribed topics"), and half of the first pipeline's hosts went unattributed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import type { Consumer, Kafka } from 'kafkajs';
import { CoPartitionedAssigner } from '../services/adapters/co-partitioned-assigner.ts';
import { createKafka, ensureTopics, topicsFor, type Topics } from '../services/adapters/kafka.ts';
import { createLogger } from '../services/adapters/logger.ts';
import { loadConfig, type Env } from '../services/config/config.ts';
import { AssignmentHealth, describeMembers } from '../services/joiner/assignment-health.ts';
import { isolatedEnv, waitFor } from './support/stack.ts';

const log = createLogger('test', 'warn');
const PARTITIONS = 4;

interface Member {
  consumer: Consumer;
  held: Record<string, number[]>;
  seen: Set<string>;
}

/** A consumer configured like the joiner's (same assignor), recording its assignment and reads. */
async function member(kafka: Kafka, groupId: string, topics: Topics): Promise<Member> {
  const consumer = kafka.consumer({
    groupId,
    partitionAssigners: [CoPartitionedAssigner],
    sessionTimeout: 10_000,
  });
  const m: Member = { consumer, held: {}, seen: new Set() };
  consumer.on(consumer.events.GROUP_JOIN, (e) => (m.held = e.payload.memberAssignment));
  await consumer.connect();
  await consumer.subscribe({ topics: [topics.requests, topics.power], fromBeginning: true });
  await consumer.run({
    eachMessage: ({ topic, partition, message }) => {
      m.seen.add(`${topic}/${partition}/${message.value?.toString() ?? ''}`);
      return Promise.resolve();
    },
  });
  return m;
}

async function twoPipelines(sameGroup: boolean): Promise<void> {
  const id = randomBytes(3).toString('hex');
  const envs: Env[] = [
    await isolatedEnv({ KAFKA_TOPIC_PREFIX: `pa-${id}.` }),
    await isolatedEnv({ KAFKA_TOPIC_PREFIX: `pb-${id}.` }),
  ].map((e) => {
    const { JOULESTREAM_GROUP_ID: _drop, ...rest } = e;
    return sameGroup ? { ...rest, JOULESTREAM_GROUP_ID: `shared-${id}` } : rest;
  });
  const configs = envs.map((e) => loadConfig(e));
  const [ga, gb] = configs.map((c) => c.joiner.groupId);
  if (sameGroup) assert.equal(ga, gb);
  else assert.notEqual(ga, gb, 'default group ids differ per topic prefix');
  const kafka = createKafka(configs[0]!.kafka, log);
  const topics = configs.map((c) => topicsFor(c.kafka.topicPrefix));
  for (const t of topics) await ensureTopics(kafka, t, PARTITIONS);
  const members: Member[] = [];
  try {
    members.push(await member(kafka, ga!, topics[0]!));
    members.push(await member(kafka, gb!, topics[1]!));
    // One record on every partition of every topic of both pipelines.
    const producer = kafka.producer();
    await producer.connect();
    for (const t of topics)
      for (const topic of [t.requests, t.power])
        for (let p = 0; p < PARTITIONS; p++)
          await producer.send({ topic, messages: [{ partition: p, value: `${topic}-${p}` }] });
    await producer.disconnect();
    await waitFor(
      'each pipeline holds and reads all of its own partitions',
      () => Promise.resolve(members.every((m) => m.seen.size === 2 * PARTITIONS)),
      60_000,
    );
    members.forEach((m, i) => {
      const t = topics[i]!;
      const all = Array.from({ length: PARTITIONS }, (_, p) => p);
      assert.deepEqual(Object.keys(m.held).sort(), [t.power, t.requests].sort(), `member ${i} topics`);
      assert.deepEqual([...(m.held[t.requests] ?? [])].sort(), all);
      assert.deepEqual([...(m.held[t.power] ?? [])].sort(), all);
      for (const s of m.seen) assert.ok(s.startsWith(t.requests) || s.startsWith(t.power), s);
    });
  } finally {
    for (const m of members) await m.consumer.disconnect();
  }
}

test('two pipelines in one group (same JOULESTREAM_GROUP_ID): each member gets only its own topics, all partitions', () =>
  twoPipelines(true));

test('two pipelines with default group ids: each gets its own group from its topic prefix', () =>
  twoPipelines(false));

test('a member holding no partition turns not ready after the session timeout; the group shows who holds what', async () => {
  const env = await isolatedEnv();
  const config = loadConfig(env);
  const kafka = createKafka(config.kafka, log);
  const topics = topicsFor(config.kafka.topicPrefix);
  await ensureTopics(kafka, topics, 1); // one partition, two members: one of them holds nothing
  const sessionMs = 6000;
  const health = [new AssignmentHealth(sessionMs, Date.now()), new AssignmentHealth(sessionMs, Date.now())];
  const consumers: Consumer[] = [];
  try {
    for (const h of health) {
      const c = kafka.consumer({
        groupId: config.joiner.groupId,
        partitionAssigners: [CoPartitionedAssigner],
        sessionTimeout: sessionMs,
      });
      c.on(c.events.GROUP_JOIN, (e) =>
        h.onAssignment((e.payload.memberAssignment[topics.requests] ?? []).length, Date.now()),
      );
      await c.connect();
      await c.subscribe({ topics: [topics.requests, topics.power] });
      await c.run({ eachMessage: () => Promise.resolve() });
      consumers.push(c);
    }
    await waitFor(
      'one member not ready',
      () => Promise.resolve(health.some((h) => !h.check(1, Date.now()).ok)),
      30_000,
    );
    const states = health.map((h) => h.check(1, Date.now()));
    assert.equal(states.filter((s) => s.ok).length, 1, 'the member holding the partition stays ready');
    const admin = kafka.admin();
    await admin.connect();
    const { groups } = await admin.describeGroups([config.joiner.groupId]);
    await admin.disconnect();
    const members = describeMembers(groups[0]!.members);
    assert.equal(members.length, 2);
    for (const m of members)
      assert.deepEqual([...(m.topics ?? [])].sort(), [topics.power, topics.requests].sort());
  } finally {
    for (const c of consumers) await c.disconnect();
  }
});
