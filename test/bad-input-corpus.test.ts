// Every class of the collectors' bad-input corpus (data/bad-input/) through its real collector on
// the real Kafka: each produces exactly one dead letter with its reason and its source position,
// the good records around it still land, and nothing stops the process. The joiner's classes
// (Avro on the topics) are in test/bad-input.test.ts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { Consumer } from 'kafkajs';
import { AvroCodec, type DeadLetter, type Decoded } from '../services/adapters/avro.ts';
import { createKafka, ensureTopics, Publisher, topicsFor, type Topics } from '../services/adapters/kafka.ts';
import { createLogger } from '../services/adapters/logger.ts';
import { Registry } from '../services/adapters/metrics.ts';
import { loadCorpus, type CorpusClass } from '../services/chaos/bad-input-files.ts';
import {
  collectPowerCsv,
  collectPowerJsonl,
  collectRequestsFile,
} from '../services/collectors/file-collectors.ts';
import { pollGrid } from '../services/collectors/grid.ts';
import { publishGrid, runGridImport } from '../services/collectors/grid-main.ts';
import { LocalCollector } from '../services/collectors/local-collector.ts';
import { Redfish } from '../services/collectors/local-sources.ts';
import { OtlpReceiver } from '../services/collectors/otlp-receiver.ts';
import { Scraper } from '../services/collectors/scraper.ts';
import { toUnusable, UnusableAnswerError } from '../services/collectors/unusable-answer.ts';
import type { Unusable } from '../services/collectors/dead-letters.ts';
import { loadConfig, type Config } from '../services/config/config.ts';
import { isolatedEnv, waitFor } from './support/stack.ts';

const log = createLogger('test', 'silent');
const corpus = loadCorpus();
let config: Readonly<Config>;
let topics: Topics;
let publisher: Publisher;
let consumer: Consumer;
let otlpUrl: string;
let answers: Server;
let answersUrl: string;
/** What the answer server serves at each path: the class under test's file. */
const served = new Map<string, Buffer>();
const seen: { topic: string; d: Decoded }[] = [];

before(async () => {
  config = loadConfig(await isolatedEnv({ KAFKA_TOPIC_PREFIX: `corpus-${randomBytes(4).toString('hex')}.` }));
  const kafka = createKafka(config.kafka, log);
  topics = topicsFor(config.kafka.topicPrefix);
  await ensureTopics(kafka, topics, 2);
  publisher = new Publisher(kafka);
  await publisher.connect();
  const codec = new AvroCodec();
  consumer = kafka.consumer({ groupId: `corpus-reader-${randomBytes(4).toString('hex')}` });
  await consumer.connect();
  await consumer.subscribe({
    topics: [topics.requests, topics.power, topics.grid, topics.deadletter],
    fromBeginning: true,
  });
  await consumer.run({
    eachMessage: ({ topic, message }) => {
      if (message.value) seen.push({ topic, d: codec.decode(message.value) });
      return Promise.resolve();
    },
  });
  const receiver = new OtlpReceiver({
    publisher,
    topics,
    log,
    metrics: new Registry(),
    instances: new Map(),
  });
  const s = await receiver.listen(0, '127.0.0.1');
  otlpUrl = `http://127.0.0.1:${s.port}/v1/traces`;
  answers = createServer((req, res) => {
    const body = served.get((req.url ?? '').split('?')[0]!);
    res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
    res.end(body ?? '');
  });
  await new Promise<void>((r) => answers.listen(0, '127.0.0.1', r));
  answersUrl = `http://127.0.0.1:${(answers.address() as AddressInfo).port}`;
  (s as Server).unref();
});

after(async () => {
  await consumer?.disconnect();
  await publisher?.disconnect();
  answers?.close();
});

const letters = () => seen.filter((s) => s.topic === topics.deadletter).map((s) => s.d.value as DeadLetter);
/**
 * Good records so far: OTLP/JSONL requests named corpus-good*, power samples (a frame counts the
 * samples it carries: collectors publish one frame per host and instant), grid values.
 */
const goods = () =>
  seen.reduce(
    (n, s) =>
      n +
      (s.d.kind === 'frame'
        ? s.d.value.entries.length
        : (s.d.kind === 'request' && s.d.value.requestId.startsWith('corpus-good')) ||
            s.d.kind === 'power' ||
            s.d.kind === 'grid'
          ? 1
          : 0),
    0,
  );

/** Feeds one class through its collector; returns where its position must point. */
async function feed(c: CorpusClass): Promise<string> {
  const bytes = readFileSync(c.path);
  const deps = { publisher, topics, log, metrics: new Registry(), hosts: ['host-a'] };
  switch (c.format) {
    case 'otlp-json':
    case 'otlp-protobuf': {
      const res = await fetch(otlpUrl, {
        method: 'POST',
        body: bytes,
        headers: { 'content-type': c.format === 'otlp-json' ? 'application/json' : 'application/x-protobuf' },
      });
      assert.equal(res.status, c.position === 'body' ? 400 : 200, `${c.id}: HTTP status`);
      return c.position;
    }
    case 'jsonl-requests':
      await collectRequestsFile(c.path, deps);
      return c.path + c.position;
    case 'nvidia-smi-csv':
      await collectPowerCsv(c.path, deps, 'host-a');
      return c.path + c.position;
    case 'power-jsonl':
      await collectPowerJsonl(c.path, deps);
      return c.path + c.position;
    case 'grid-csv':
      await runGridImport(config, c.path);
      return c.path + c.position;
    case 'prometheus': {
      served.set(`/prom/${c.id}`, bytes);
      const url = `${answersUrl}/prom/${c.id}`;
      await new Scraper({ publisher, topics, log, metrics: new Registry() }).scrape({ url, kind: 'dcgm' });
      return url;
    }
    case 'redfish': {
      // The same answer from both resources the agent tries (EnvironmentMetrics, then Power).
      served.set('/redfish/v1/Chassis/1/EnvironmentMetrics', bytes);
      served.set('/redfish/v1/Chassis/1/Power', bytes);
      const source = new Redfish('host-a', { baseUrl: answersUrl, chassis: '1', auth: null });
      const agent = new LocalCollector(
        { host: 'host-a', intervalMs: 1000, sources: [source] },
        { publisher, topics, log, metrics: new Registry() },
      );
      await agent.tick();
      return answersUrl;
    }
    case 'grid-electricitymaps': {
      served.set('/v3/carbon-intensity/latest', bytes);
      const unusable: Unusable[] = [];
      const values = await pollGrid(
        { electricityMaps: { baseUrl: answersUrl, zones: ['DE'], apiKey: 'k' } },
        (zone, err) => {
          if (err instanceof UnusableAnswerError) unusable.push(toUnusable(err, zone));
        },
      );
      await publishGrid(publisher, topics, values, unusable);
      return `${answersUrl}/v3/carbon-intensity/latest`;
    }
  }
}

test(`each of the ${corpus.length} classes is dead-lettered alone, with its reason and position`, async (t) => {
  assert.ok(corpus.length >= 25);
  const rows: string[] = [];
  for (const c of corpus) {
    const deadBefore = letters().length;
    const goodBefore = goods();
    const position = await feed(c);
    await waitFor(
      `${c.id}: its dead letter and ${c.good} good records`,
      () => Promise.resolve(letters().length > deadBefore && goods() >= goodBefore + c.good),
      30_000,
      100,
    );
    await new Promise((r) => setTimeout(r, 200)); // anything more would arrive now
    const mine = letters().slice(deadBefore);
    assert.equal(
      mine.length,
      1,
      `${c.id}: exactly one dead letter, got ${mine.map((m) => m.reason).join(',')}`,
    );
    const l = mine[0]!;
    assert.equal(l.reason, c.reason, `${c.id}: reason (${l.error})`);
    assert.ok(
      l.error.startsWith(position),
      `${c.id}: position: "${l.error}" should start with "${position}"`,
    );
    assert.ok(l.payload.length > 0, `${c.id}: the payload is kept`);
    assert.equal(goods() - goodBefore, c.good, `${c.id}: the good records around it`);
    rows.push(`${c.id}\t${l.reason}\t${l.error.slice(0, 100)}`);
  }
  t.diagnostic(rows.join('\n'));
});
