// The OTLP receiver on the real Kafka: JSON, gzipped JSON and protobuf exports become request logs
// on the requests topic; bad bodies get the status codes exporters expect; when Kafka cannot take
// the records the exporter is told to retry (503 + Retry-After) instead of losing them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
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

const fixtureText = readFileSync(
  new URL('./fixtures/formats/otlp-vllm-traces.json', import.meta.url),
  'utf8',
);
const log = createLogger('test', 'warn');
let kafka: Kafka;
let topics: Topics;
let publisher: Publisher;
let server: Server & { port: number };
let url: string;
const metrics = new Registry();

before(async () => {
  const config = loadConfig(await isolatedEnv());
  kafka = createKafka(config.kafka, log);
  topics = topicsFor(config.kafka.topicPrefix);
  await ensureTopics(kafka, topics, 3);
  publisher = new Publisher(kafka);
  await publisher.connect();
  const receiver = new OtlpReceiver({
    publisher,
    topics,
    log,
    metrics,
    instances: new Map([['sglang-8b-b3', { host: 'host-b', gpus: [1] }]]),
  });
  server = await receiver.listen(0, '127.0.0.1');
  url = `http://127.0.0.1:${server.port}/v1/traces`;
});

after(async () => {
  server?.closeAllConnections();
  server?.close();
  await publisher?.disconnect();
});

const post = (body: Buffer | string, headers: Record<string, string>) =>
  fetch(url, { method: 'POST', body, headers });

test('JSON, gzipped JSON and protobuf exports land on the requests topic', async () => {
  const sentAtMs = Date.now();
  const json = await post(fixtureText, { 'content-type': 'application/json' });
  assert.equal(json.status, 200);
  assert.deepEqual(await json.json(), {});
  const gz = await post(gzipSync(fixtureText), {
    'content-type': 'application/json',
    'content-encoding': 'gzip',
  });
  assert.equal(gz.status, 200);
  const pb = await post(encodeTraceRequest(JSON.parse(fixtureText) as OtlpRequest), {
    'content-type': 'application/x-protobuf',
  });
  assert.equal(pb.status, 200);
  assert.equal(pb.headers.get('content-type'), 'application/x-protobuf');
  assert.equal((await pb.arrayBuffer()).byteLength, 0); // full success: an empty response message

  const seen = await readTopic(kafka, topics.requests, (s) => s.length >= 9);
  const reqs = seen.filter((d) => d.kind === 'request').map((d) => d.value);
  assert.equal(reqs.length, 9); // three GenAI spans per export; the health-check span is ignored
  const first = reqs.filter((r) => r.requestId === 'cmpl-8f14e45fceea167a');
  assert.equal(first.length, 3);
  assert.ok(first.every((r) => r.tStartMs === 1_700_000_000_250 && r.tFirstTokenMs === 1_700_000_000_500));
  assert.ok(reqs.filter((r) => r.requestId === 'sg-1').every((r) => r.host === 'host-b' && r.gpus[0] === 1));
  assert.match(metrics.render(), /joulestream_otlp_spans_total\{outcome="ignored"\} 3/);
  // The fixture's spans ended in 2023: the delay gauge shows how far behind (or off) the engine is.
  const delay = /joulestream_otlp_export_delay_ms\{host="host-a"\} (\d+)/.exec(metrics.render());
  // At least the time from the newest span end (…004_250) to when the exports were sent; measured
  // against the send time, not now, which a slow topic read would push past the gauge.
  assert.ok(delay && Number(delay[1]) >= sentAtMs - 1_700_000_004_250, 'export delay per host');
});

test('partial success: rejected spans are counted back to the exporter and dead-lettered', async () => {
  const body = {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.instance.id', value: { stringValue: 'unknown-engine' } }] },
        scopeSpans: [
          { spans: [{ attributes: [{ key: 'gen_ai.request.id', value: { stringValue: 'q' } }] }] },
        ],
      },
    ],
  };
  const res = await post(JSON.stringify(body), { 'content-type': 'application/json' });
  assert.equal(res.status, 200);
  const out = (await res.json()) as { partialSuccess: { rejectedSpans: string; errorMessage: string } };
  assert.equal(out.partialSuccess.rejectedSpans, '1');
  assert.match(out.partialSuccess.errorMessage, /not in the fleet config/);
  const dead = await readTopic(kafka, topics.deadletter, (s) => s.length >= 1);
  assert.equal((dead[0]!.value as { reason: string }).reason, 'unknown-host');
});

test('regression: one span with 2^63 tokens and one ending before it starts are rejected alone; the good spans land', async () => {
  const id = `r${Date.now()}`;
  const sp = (name: string, startNs: string, endNs: string, prompt: string) => ({
    traceId: 't',
    spanId: name,
    startTimeUnixNano: startNs,
    endTimeUnixNano: endNs,
    attributes: [
      { key: 'gen_ai.request.id', value: { stringValue: `${id}-${name}` } },
      { key: 'gen_ai.usage.prompt_tokens', value: { intValue: prompt } },
    ],
  });
  const body = {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'host.name', value: { stringValue: 'host-a' } }] },
        scopeSpans: [
          {
            spans: [
              sp('good1', '1700000000000000000', '1700000002000000000', '10'),
              sp('huge', '1700000000000000000', '1700000002000000000', '9223372036854775808'),
              sp('backwards', '1700000005000000000', '1700000001000000000', '10'),
              sp('good2', '1700000003000000000', '1700000004000000000', '20'),
            ],
          },
        ],
      },
    ],
  };
  for (const [name, payload, type] of [
    ['json', JSON.stringify(body), 'application/json'],
    ['protobuf', encodeTraceRequest(body), 'application/x-protobuf'],
  ] as const) {
    const res = await post(payload, { 'content-type': type });
    assert.equal(res.status, 200, `${name}: a partial success, not a 503 the exporter would retry`);
    if (type === 'application/json') {
      const out = (await res.json()) as { partialSuccess: { rejectedSpans: string; errorMessage: string } };
      assert.equal(out.partialSuccess.rejectedSpans, '2');
      assert.match(out.partialSuccess.errorMessage, /2\^53/);
    } else assert.ok((await res.arrayBuffer()).byteLength > 0, 'protobuf partial_success');
  }
  const mine = (d: { kind: string; value: unknown }) =>
    d.kind === 'request' && (d.value as { requestId: string }).requestId.startsWith(id);
  const seen = await readTopic(kafka, topics.requests, (s) => s.filter(mine).length >= 4);
  assert.deepEqual(
    seen
      .filter(mine)
      .map((d) => (d.value as { requestId: string }).requestId.slice(id.length + 1))
      .sort(),
    ['good1', 'good1', 'good2', 'good2'],
  );
  const dead = await readTopic(
    kafka,
    topics.deadletter,
    (s) => s.filter((d) => (d.value as { payload: Buffer }).payload.toString().includes(id)).length >= 4,
  );
  const letters = dead
    .map((d) => d.value as { reason: string; error: string; payload: Buffer })
    .filter((d) => d.payload.toString().includes(id));
  assert.deepEqual(letters.map((l) => l.reason).sort(), [
    'end-before-start',
    'end-before-start',
    'out-of-range',
    'out-of-range',
  ]);
  assert.ok(letters.every((l) => /^resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[[12]\]: /.test(l.error)));
});

test('bad requests get the status codes OTLP exporters expect', async () => {
  assert.equal((await post('{nope', { 'content-type': 'application/json' })).status, 400);
  assert.equal(
    (await post(Buffer.from([0x0a, 0xff]), { 'content-type': 'application/x-protobuf' })).status,
    400,
  );
  assert.equal((await post('x', { 'content-type': 'text/plain' })).status, 415);
  assert.equal(
    (await post('x', { 'content-type': 'application/json', 'content-encoding': 'br' })).status,
    415,
  );
  assert.equal(
    (await post(Buffer.from('not gzip'), { 'content-type': 'application/json', 'content-encoding': 'gzip' }))
      .status,
    400,
  );
  assert.equal((await fetch(url)).status, 405);
  assert.equal((await fetch(url.replace('/v1/traces', '/v1/metrics'), { method: 'POST' })).status, 404);
});

test('when Kafka refuses the records, the exporter is told to retry (503, Retry-After)', async () => {
  // A broker address where nothing listens: the publish cannot be acknowledged.
  const dead = createKafka(
    { ...loadConfig(await isolatedEnv()).kafka, brokers: ['127.0.0.1:1'] },
    createLogger('test', 'silent'),
  );
  const stuck = new Publisher(dead);
  const receiver = new OtlpReceiver({
    publisher: stuck,
    topics,
    log: createLogger('test', 'silent'),
    metrics: new Registry(),
    instances: new Map(),
    publishTimeoutMs: 1500,
  });
  const s = await receiver.listen(0, '127.0.0.1');
  try {
    const res = await fetch(`http://127.0.0.1:${s.port}/v1/traces`, {
      method: 'POST',
      body: fixtureText,
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.status, 503);
    assert.ok(Number(res.headers.get('retry-after')) > 0);
  } finally {
    s.closeAllConnections();
    s.close();
  }
});
