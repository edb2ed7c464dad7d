// Kafka stopped in the middle of a collector's run and started again: with the disk spool, every
// record arrives exactly once and in order per host, and the collector never blocks or fails.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AvroCodec } from '../services/adapters/avro.ts';
import { createKafka, ensureTopics, topicsFor } from '../services/adapters/kafka.ts';
import { createLogger } from '../services/adapters/logger.ts';
import { openSender } from '../services/adapters/spool.ts';
import { loadConfig } from '../services/config/config.ts';
import type { Heartbeat } from '../services/core/types.ts';
import { readTopic } from './support/kafka.ts';
import { isolatedEnv, kafkaControl } from './support/stack.ts';

test('Kafka restarted mid-run: records spool to disk and arrive exactly once, in order per host', async (t) => {
  const control = await kafkaControl();
  if (!control) {
    t.skip('the broker is not this test run’s own native stack (endpoints from env or Docker)');
    return;
  }
  const config = loadConfig(await isolatedEnv());
  const log = createLogger('test', 'silent');
  const kafka = createKafka(config.kafka, log);
  const topics = topicsFor(config.kafka.topicPrefix);
  await ensureTopics(kafka, topics, 3);
  const out = await openSender(
    kafka,
    { dir: mkdtempSync(join(tmpdir(), 'spool-')), maxBytes: 64 << 20 },
    log,
  );
  const codec = new AvroCodec();
  const hosts = ['host-a', 'host-b', 'host-c'];
  const N = 120;
  const batch = async (i: number) =>
    out.sender.send(
      topics.power,
      hosts.map((host) => ({
        key: host,
        value: codec.encode('heartbeat', { host, stream: 'power', tMs: i, source: 'seq' }),
      })),
    );
  let outageSends = 0;
  try {
    for (let i = 0; i < N / 3; i++) await batch(i);
    await control.stop();
    // The broker is down: the collector keeps accepting, nothing blocks.
    const started = Date.now();
    for (let i = N / 3; i < (2 * N) / 3; i++) {
      await batch(i);
      outageSends++;
    }
    assert.ok(Date.now() - started < 5000, 'sends during the outage return at disk speed');
    assert.ok(out.pendingBytes() > 0, 'the outage is visible as pending bytes');
    await control.start();
    for (let i = (2 * N) / 3; i < N; i++) await batch(i);
  } finally {
    await out.close();
  }
  assert.equal(outageSends, N / 3);
  const seen = await readTopic(kafka, topics.power, (s) => s.length >= N * hosts.length, 60_000);
  for (const host of hosts) {
    const seq = seen
      .map((d) => d.value as Heartbeat)
      .filter((h) => h.host === host)
      .map((h) => h.tMs);
    assert.deepEqual(
      seq,
      Array.from({ length: N }, (_, i) => i),
      `${host}: exactly once, in order`,
    );
  }
});
