// Power frames end to end on the real stack (issue 16): frames and old single-sample records side
// by side on the power topic -> joiner -> ClickHouse; a frame's bad entry is dead-lettered alone and
// its good entries still count.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Kafka } from 'kafkajs';
import { AvroCodec, type PowerSampleWire } from '../services/adapters/avro.ts';
import { createClickHouse, migrate } from '../services/adapters/clickhouse.ts';
import { loadFleet } from '../services/adapters/fleet-file.ts';
import { createKafka, ensureTopics, Publisher, topicsFor, type Topics } from '../services/adapters/kafka.ts';
import { createLogger } from '../services/adapters/logger.ts';
import { Registry } from '../services/adapters/metrics.ts';
import { frameMessages } from '../services/adapters/power-frames.ts';
import { loadConfig, type Config } from '../services/config/config.ts';
import { Joiner } from '../services/joiner/joiner.ts';
import { readTopic } from './support/kafka.ts';
import { isolatedEnv, waitFor } from './support/stack.ts';

let config: Readonly<Config>;
let kafka: Kafka;
let topics: Topics;
let reader: ClickHouseClient;
let writer: ClickHouseClient;
let joiner: Joiner;
const registry = new Registry();
const t0 = Math.floor((Date.now() - 120_000) / 1000) * 1000;
const SECONDS = 20;

before(async () => {
  config = loadConfig(
    await isolatedEnv({ JOULESTREAM_OUT_OF_ORDERNESS_MS: '0', JOULESTREAM_ALLOWED_LATENESS_MS: '0' }),
  );
  await migrate(config.clickhouse);
  const log = createLogger('test', 'warn');
  kafka = createKafka(config.kafka, log);
  topics = topicsFor(config.kafka.topicPrefix);
  await ensureTopics(kafka, topics, 3);
  reader = createClickHouse(config.clickhouse, config.clickhouse.reader, config.clickhouse.database);
  writer = createClickHouse(config.clickhouse, config.clickhouse.writer, config.clickhouse.database);
  joiner = new Joiner({
    config,
    fleet: loadFleet(config.fleetFile),
    kafka,
    topics,
    clickhouse: writer,
    log,
    metrics: registry,
  });
  await joiner.start();
});

after(async () => {
  await joiner?.stop();
  await reader?.close();
  await writer?.close();
});

const reading = (host: string, gpu: string, tMs: number, powerW: number): PowerSampleWire => ({
  host,
  role: 'accelerator',
  device: gpu,
  tMs,
  kind: 'reading',
  energyJ: null,
  rangeJ: null,
  powerW,
  averagingMs: 1000,
  source: 'nvml',
});

test('frames and single-sample records give the same energy; a bad entry is dead-lettered alone', async () => {
  const codec = new AvroCodec();
  // Both hosts draw the same power: 100 W per GPU, 400 W in second 10. host-a sends frames (one
  // per second with both GPUs), host-b single records as a collector from before frames does.
  const power = (s: number) => (s === 10 ? 400 : 100);
  const frames: PowerSampleWire[] = [];
  const singles: PowerSampleWire[] = [];
  for (let s = 1; s <= SECONDS; s++)
    for (const g of ['0', '1']) {
      frames.push(reading('host-a', g, t0 + s * 1000, power(s)));
      singles.push(reading('host-b', g, t0 + s * 1000, power(s)));
    }
  const messages = frameMessages(codec, frames);
  assert.equal(messages.length, SECONDS);
  // Second 10's frame also reports a GPU host-a lacks: that entry alone must go.
  frames.push(reading('host-a', '7', t0 + 10_000, 100));
  messages[9] = frameMessages(
    codec,
    frames.filter((f) => f.tMs === t0 + 10_000),
  )[0]!;
  const end = t0 + (SECONDS + 2) * 1000;
  const heartbeats = (stream: 'requests' | 'power') =>
    ['host-a', 'host-b'].map((h) => ({
      key: h,
      value: codec.encode('heartbeat', { host: h, stream, tMs: end }),
    }));
  const publisher = new Publisher(kafka);
  await publisher.connect();
  await publisher.send(topics.power, [
    ...messages,
    ...singles.map((s) => ({ key: s.host, value: codec.encode('power', s) })),
    ...heartbeats('power'),
  ]);
  await publisher.send(topics.requests, [
    ...['host-a', 'host-b'].map((host) => ({
      key: host,
      value: codec.encode('request', {
        requestId: `${host}-r1`,
        host,
        gpus: [0],
        model: 'm1',
        tenant: 'acme',
        status: 'ok',
        tStartMs: t0 + 5000,
        tEndMs: t0 + 15_000,
        tFirstTokenMs: null,
        promptTokens: null,
        completionTokens: null,
      }),
    })),
    ...heartbeats('requests'),
  ]);
  await publisher.disconnect();

  const rows = await waitFor('2 request rows', async () => {
    const r = await (
      await reader.query({
        query: 'SELECT request_id, it_j FROM request_energy FINAL ORDER BY request_id',
        format: 'JSONEachRow',
      })
    ).json<{ request_id: string; it_j: number }>();
    return r.length >= 2 ? r : undefined;
  });
  assert.deepEqual(
    rows.map((r) => r.request_id),
    ['host-a-r1', 'host-b-r1'],
  );
  const ledger = await waitFor('the ledger of both hosts', async () => {
    const r = await (
      await reader.query({
        query: `SELECT host, count() AS n, sum(measured_j) AS measured,
                       max(abs(measured_j - attributed_j - unattributed_j) / greatest(measured_j, 1)) AS err
                FROM host_ledger FINAL GROUP BY host ORDER BY host`,
        format: 'JSONEachRow',
      })
    ).json<{ host: string; n: string; measured: number; err: number }>();
    return r.length === 2 && r.every((h) => Number(h.n) >= SECONDS - 2) ? r : undefined;
  });
  const [a, b] = ledger;
  // Had the bad frame been dropped whole, host-a would miss second 10's 2 x 300 W above idle.
  assert.ok(Math.abs(a!.measured - b!.measured) <= 1e-9 * b!.measured, `${a!.measured} vs ${b!.measured}`);
  assert.ok(b!.measured > 2 * 100 * (SECONDS - 2), `measured ${b!.measured}`);
  for (const h of ledger) assert.ok(h.err <= 1e-9, `conservation error ${h.err} on ${h.host}`);
  assert.ok(Math.abs(rows[0]!.it_j - rows[1]!.it_j) <= 1e-9 * rows[1]!.it_j);

  const letters = await readTopic(kafka, topics.deadletter, (seen) => seen.length >= 1);
  assert.equal(letters.length, 1);
  const letter = letters[0]!;
  assert.equal(letter.kind, 'deadletter');
  if (letter.kind !== 'deadletter') return;
  assert.equal(letter.value.reason, 'invalid-field');
  assert.match(letter.value.error, /^frame entry 2: accelerator 7 does not exist on host-a/);
  assert.equal(letter.value.topic, topics.power);
  // The payload is the bad entry as the single-sample record it stands for.
  const payload = codec.decode(letter.value.payload);
  assert.equal(payload.kind === 'power' && payload.value.device, '7');
  assert.match(registry.render(), /joulestream_joiner_dead_letters_total\{reason="invalid-field"\} 1/);
});
