// An agent application behind an OpenTelemetry collector, through the OTLP receiver on the real
// Kafka: an export of 18 model calls with their CLIENT chat and invoke_agent spans, as OTLP/JSON
// and as protobuf, puts 18 request logs on the requests topic per export, carrying their trace,
// conversation and agent, and dead-letters nothing (issue 18: it used to make 36 requests).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { after, before, test } from 'node:test';
import type { Kafka } from 'kafkajs';
import { createKafka, ensureTopics, Publisher, topicsFor, type Topics } from '../services/adapters/kafka.ts';
import { createLogger } from '../services/adapters/logger.ts';
import { Registry } from '../services/adapters/metrics.ts';
import type { OtlpRequest } from '../services/collectors/otlp-map.ts';
import { OtlpReceiver } from '../services/collectors/otlp-receiver.ts';
import { loadConfig } from '../services/config/config.ts';
import { encodeTraceRequest } from './support/otlp-proto-encode.ts';
import { readTopic } from './support/kafka.ts';
import { isolatedEnv } from './support/stack.ts';

const fixtureText = readFileSync(new URL('./fixtures/formats/otlp-agent-run.json', import.meta.url), 'utf8');
const log = createLogger('test', 'warn');
let kafka: Kafka;
let topics: Topics;
let publisher: Publisher;
let server: Server & { port: number };
const metrics = new Registry();

before(async () => {
  const config = loadConfig(await isolatedEnv());
  kafka = createKafka(config.kafka, log);
  topics = topicsFor(config.kafka.topicPrefix);
  await ensureTopics(kafka, topics, 3);
  publisher = new Publisher(kafka);
  await publisher.connect();
  server = await new OtlpReceiver({ publisher, topics, log, metrics, instances: new Map() }).listen(
    0,
    '127.0.0.1',
  );
});

after(async () => {
  server?.closeAllConnections();
  server?.close();
  await publisher?.disconnect();
});

test('18 calls with their client and agent spans become 18 requests per export, none dead-lettered', async () => {
  const url = `http://127.0.0.1:${server.port}/v1/traces`;
  const json = await fetch(url, {
    method: 'POST',
    body: fixtureText,
    headers: { 'content-type': 'application/json' },
  });
  assert.equal(json.status, 200);
  assert.deepEqual(await json.json(), {});
  const pb = await fetch(url, {
    method: 'POST',
    body: encodeTraceRequest(JSON.parse(fixtureText) as OtlpRequest),
    headers: { 'content-type': 'application/x-protobuf' },
  });
  assert.equal(pb.status, 200);
  const seen = await readTopic(
    kafka,
    topics.requests,
    (s) => s.filter((d) => d.kind === 'request').length >= 36,
  );
  const reqs = seen.filter((d) => d.kind === 'request').map((d) => d.value);
  assert.equal(reqs.length, 36);
  assert.deepEqual([...new Set(reqs.map((r) => r.host))].sort(), ['gpu-a', 'gpu-b', 'gpu-c']);
  assert.equal(new Set(reqs.map((r) => r.traceId)).size, 3);
  assert.ok(reqs.every((r) => r.conversationId?.startsWith('conv-') && r.agentName));
  // Nothing reached the dead-letter topic: a 3 s read of it finds it empty.
  const dead = await readTopic(kafka, topics.deadletter, (s) => s.length > 0, 3000);
  assert.deepEqual(dead, []);
  const text = metrics.render();
  assert.match(text, /joulestream_otlp_spans_total\{outcome="client"\} 36/);
  assert.match(text, /joulestream_otlp_spans_total\{outcome="agent"\} 6/);
  assert.match(text, /joulestream_otlp_spans_total\{outcome="request"\} 36/);
});
