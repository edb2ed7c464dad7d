// The re-drive end to end on the real stack, as an operator meets it: a host missing from the fleet
// file has its records dead-lettered by the joiner (unknown-host); the host is added and the joiner
// restarted; `redrive --reason unknown-host` sends the original records back, and the host's
// request is attributed in ClickHouse, once, even after a second re-drive.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AvroCodec } from '../services/adapters/avro.ts';
import { createClickHouse, migrate } from '../services/adapters/clickhouse.ts';
import { loadFleet } from '../services/adapters/fleet-file.ts';
import { createKafka, ensureTopics, Publisher, topicsFor } from '../services/adapters/kafka.ts';
import { createLogger } from '../services/adapters/logger.ts';
import { Registry } from '../services/adapters/metrics.ts';
import { redrive } from '../services/cli/redrive.ts';
import { loadConfig } from '../services/config/config.ts';
import { Joiner } from '../services/joiner/joiner.ts';
import { readTopic } from './support/kafka.ts';
import { isolatedEnv, waitFor } from './support/stack.ts';

test('dead letters of a host missing from the fleet are attributed once after it is added and re-driven', async () => {
  const config = loadConfig(
    await isolatedEnv({ JOULESTREAM_OUT_OF_ORDERNESS_MS: '0', JOULESTREAM_ALLOWED_LATENESS_MS: '0' }),
  );
  await migrate(config.clickhouse);
  const log = createLogger('test', 'warn');
  const kafka = createKafka(config.kafka, log);
  const topics = topicsFor(config.kafka.topicPrefix);
  await ensureTopics(kafka, topics, 2);
  const writer = createClickHouse(config.clickhouse, config.clickhouse.writer, config.clickhouse.database);
  const reader = createClickHouse(config.clickhouse, config.clickhouse.reader, config.clickhouse.database);
  const joinerWith = (fleetFile: string) =>
    new Joiner({
      config,
      fleet: loadFleet(fleetFile),
      kafka,
      topics,
      clickhouse: writer,
      log,
      metrics: new Registry(),
    });
  let joiner = joinerWith(config.fleetFile);
  await joiner.start();
  const codec = new AvroCodec();
  const publisher = new Publisher(kafka);
  await publisher.connect();
  try {
    const t0 = Math.floor((Date.now() - 120_000) / 1000) * 1000;
    const host = 'host-new';
    await publisher.send(topics.power, [
      ...Array.from({ length: 10 }, (_, i) => ({
        key: host,
        value: codec.encode('power', {
          host,
          role: 'accelerator',
          device: '0',
          tMs: t0 + (i + 1) * 1000,
          kind: 'reading',
          energyJ: null,
          rangeJ: null,
          powerW: 300,
          averagingMs: 1000,
          source: 'nvml',
        }),
      })),
      { key: host, value: codec.encode('heartbeat', { host, stream: 'power', tMs: t0 + 12_000 }) },
    ]);
    await publisher.send(topics.requests, [
      {
        key: host,
        value: codec.encode('request', {
          requestId: 'new-1',
          host,
          gpus: [0],
          model: 'm1',
          tenant: 'acme',
          status: 'ok',
          tStartMs: t0 + 2000,
          tEndMs: t0 + 6000,
          tFirstTokenMs: null,
          promptTokens: 10,
          completionTokens: 20,
        }),
      },
      { key: host, value: codec.encode('heartbeat', { host, stream: 'requests', tMs: t0 + 12_000 }) },
    ]);
    // 10 samples, a request and two heartbeats, each refused as unknown-host.
    await readTopic(
      kafka,
      topics.deadletter,
      (s) => s.filter((d) => d.kind === 'deadletter' && d.value.reason === 'unknown-host').length >= 13,
    );

    // The fix: the host goes into the fleet file and the joiner is restarted with it.
    await joiner.stop();
    const fleetFile = join(mkdtempSync(join(tmpdir(), 'fleet-')), 'fleet.yaml');
    writeFileSync(
      fleetFile,
      readFileSync(config.fleetFile, 'utf8') +
        `  - { id: ${host}, facility: t-par, gpuCount: 2, models: { accelerator: nvidia-h100-sxm5-80gb, rest: hgx-8gpu-chassis } }\n`,
    );
    joiner = joinerWith(fleetFile);
    await joiner.start();

    const filter = { reason: 'unknown-host', fromMs: null, toMs: null };
    const first = await redrive(kafka, topics, config.kafka.topicPrefix, filter, false, log);
    assert.deepEqual(first.plan.bySourceTopic, { [topics.power]: 11, [topics.requests]: 2 });
    const rowsFor = async () =>
      (
        await reader.query({
          query: `SELECT request_id, it_j FROM request_energy FINAL WHERE host = '${host}'`,
          format: 'JSONEachRow',
        })
      ).json<{ request_id: string; it_j: number }>();
    const rows = await waitFor('the re-driven request attributed', async () => {
      const r = await rowsFor();
      return r.length > 0 ? r : undefined;
    });
    assert.equal(rows[0]!.request_id, 'new-1');
    assert.ok(Number(rows[0]!.it_j) > 0, 'energy attributed to it');
    const again = await redrive(kafka, topics, config.kafka.topicPrefix, filter, false, log);
    assert.equal(again.plan.send.length, 0);
    assert.equal(again.plan.alreadyRedriven, 13);
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal((await rowsFor()).length, 1);
  } finally {
    await publisher.disconnect();
    await joiner.stop();
    await reader.close();
    await writer.close();
  }
});
