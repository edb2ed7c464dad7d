// End to end on the real stack: files -> collectors -> Kafka -> joiner -> ClickHouse.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Kafka } from 'kafkajs';
import { AvroCodec } from '../services/adapters/avro.ts';
import { createClickHouse, migrate } from '../services/adapters/clickhouse.ts';
import { loadFleet } from '../services/adapters/fleet-file.ts';
import { createKafka, ensureTopics, Publisher, topicsFor, type Topics } from '../services/adapters/kafka.ts';
import { createLogger } from '../services/adapters/logger.ts';
import { Registry } from '../services/adapters/metrics.ts';
import { loadConfig, type Config } from '../services/config/config.ts';
import { collectPowerCsv, collectRequestsFile } from '../services/collectors/file-collectors.ts';
import { Joiner } from '../services/joiner/joiner.ts';
import { isolatedEnv, waitFor } from './support/stack.ts';
import { readTopic } from './support/kafka.ts';

let config: Readonly<Config>;
let kafka: Kafka;
let topics: Topics;
let reader: ClickHouseClient;
let writer: ClickHouseClient;
let joiner: Joiner;
const registry = new Registry();
const hosts = ['host-a', 'host-b', 'host-c'];
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

test('requests and power flow through Kafka and the joiner into ClickHouse, conserving energy', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'js-pipe-'));
  // Power: every GPU at 100 W idle plus 200 W while busy in [5 s, 15 s) on host-a GPU 0.
  const csv = ['timestamp,host,index,power.draw [W]'];
  for (let s = 1; s <= SECONDS; s++) {
    for (const h of hosts) {
      for (const g of [0, 1]) {
        const busy = h === 'host-a' && g === 0 && s > 5 && s <= 15;
        csv.push(`${t0 + s * 1000},${h},${g},${busy ? 300 : 100}`);
      }
    }
  }
  csv.push(`${t0 + 3000},host-b,1,nan`); // not a number: the wire cannot carry it, the collector dead-letters it
  csv.push(`${t0 + 3000},host-b,0,-5`); // negative power: encodable, dead-lettered by the joiner
  writeFileSync(join(dir, 'power.csv'), csv.join('\n') + '\n');
  const reqs = [
    {
      request_id: 'a1',
      host: 'host-a',
      gpus: [0],
      model: 'm1',
      tenant: 'acme',
      start_ms: t0 + 5000,
      end_ms: t0 + 10_000,
      first_token_ms: t0 + 5500,
      prompt_tokens: 500,
      completion_tokens: 100,
    },
    {
      request_id: 'a2',
      host: 'host-a',
      gpus: [0],
      model: 'm1',
      tenant: 'globex',
      start_ms: t0 + 8000,
      end_ms: t0 + 15_000,
      first_token_ms: t0 + 8200,
      prompt_tokens: 100,
      completion_tokens: 300,
    },
    {
      request_id: 'b1',
      host: 'host-b',
      gpus: [],
      model: 'm2',
      tenant: 'acme',
      start_ms: t0 + 2000,
      end_ms: t0 + 4000,
      prompt_tokens: 50,
      completion_tokens: 20,
    },
    {
      request_id: 'c1',
      host: 'host-c',
      gpus: [1],
      model: 'm2',
      tenant: 'acme',
      start_ms: t0 + 1000,
      end_ms: t0 + 19_000,
    },
    {
      request_id: 'x1',
      host: 'host-unknown',
      gpus: [0],
      model: 'm2',
      tenant: 'acme',
      start_ms: t0 + 1000,
      end_ms: t0 + 2000,
    },
  ];
  const lines = reqs.map((r) => JSON.stringify(r));
  lines.splice(2, 0, '{"this is": not json');
  writeFileSync(join(dir, 'requests.jsonl'), lines.join('\n') + '\n');

  const publisher = new Publisher(kafka);
  await publisher.connect();
  // host-c's zone (US) gets an hourly intensity on the grid topic; FR keeps its annual factor.
  const gridCodec = new AvroCodec();
  await publisher.send(topics.grid, [
    {
      key: 'US',
      value: gridCodec.encode('grid', {
        zone: 'US',
        tMs: t0 - 60_000,
        gPerKWh: 400,
        source: 'csv',
        estimated: false,
      }),
    },
  ]);
  await waitFor('the joiner to read the grid value', () =>
    Promise.resolve(/joulestream_joiner_grid_values_total\{outcome="applied"\} 1/.test(registry.render())),
  );
  const log = createLogger('test', 'warn');
  const deps = { publisher, topics, log, metrics: registry, hosts };
  const [rq, pw] = await Promise.all([
    collectRequestsFile(join(dir, 'requests.jsonl'), deps),
    collectPowerCsv(join(dir, 'power.csv'), deps),
  ]);
  assert.equal(rq.deadLettered, 1);
  assert.equal(rq.published, 5);
  assert.equal(pw.published, SECONDS * hosts.length * 2 + 1);
  assert.equal(pw.deadLettered, 1);
  const codec = new AvroCodec();
  const end = t0 + (SECONDS + 2) * 1000;
  for (const stream of ['requests', 'power'] as const) {
    await publisher.send(
      stream === 'requests' ? topics.requests : topics.power,
      hosts.map((h) => ({ key: h, value: codec.encode('heartbeat', { host: h, stream, tMs: end }) })),
    );
  }
  await publisher.disconnect();

  const rows = await waitFor('4 request rows', async () => {
    const r = await (
      await reader.query({
        query: 'SELECT * FROM request_energy FINAL ORDER BY request_id',
        format: 'JSONEachRow',
      })
    ).json<Record<string, string | number>>();
    return r.length >= 4 ? r : undefined;
  });
  assert.deepEqual(
    rows.map((r) => r.request_id),
    ['a1', 'a2', 'b1', 'c1'],
  );
  const byId = new Map(rows.map((r) => [r.request_id, r]));
  // a1 and a2 share host-a GPU 0 while both run; a2 runs longer and carries more tokens.
  assert.ok(Number(byId.get('a2')!.it_j) > Number(byId.get('a1')!.it_j));
  assert.equal(byId.get('a1')!.share_model, 'phase');
  assert.equal(byId.get('c1')!.share_model, 'time');
  assert.equal(byId.get('a1')!.zone, 'FR');
  // Facility energy includes PUE 1.5 at t-par; location-based CO2e uses FR's annual factor (56 g/kWh).
  const a1 = byId.get('a1')!;
  assert.ok(Math.abs(Number(a1.facility_j) - 1.5 * Number(a1.it_j)) < 1e-6);
  assert.ok(Math.abs(Number(a1.co2e_location_g) - (Number(a1.facility_j) / 3.6e6) * 56) < 1e-9);
  assert.equal(a1.ci_source, 'annual');
  const c1 = byId.get('c1')!;
  assert.equal(c1.ci_source, 'series');
  assert.ok(Math.abs(Number(c1.co2e_location_g) - (Number(c1.facility_j) / 3.6e6) * 400) < 1e-9);

  // Conservation in ClickHouse itself: every ledger row, and request rows against the ledger.
  const [cons] = await (
    await reader.query({
      query: `SELECT count() AS n, max(abs(measured_j - attributed_j - unattributed_j) / greatest(measured_j, 1)) AS err,
                     sum(attributed_j) AS attributed, sum(measured_j) AS measured FROM host_ledger FINAL`,
      format: 'JSONEachRow',
    })
  ).json<{ n: string; err: number; attributed: number; measured: number }>();
  assert.ok(Number(cons!.n) >= hosts.length * SECONDS - 3, `ledger rows: ${cons!.n}`);
  assert.ok(cons!.err <= 1e-9, `conservation error ${cons!.err}`);
  const [sum] = await (
    await reader.query({ query: 'SELECT sum(it_j) AS it FROM request_energy FINAL', format: 'JSONEachRow' })
  ).json<{ it: number }>();
  assert.ok(
    Math.abs(sum!.it - cons!.attributed) <= 1e-9 * cons!.attributed,
    `${sum!.it} vs ${cons!.attributed}`,
  );
  // 6 GPUs at >= 100 W for ~20 s: measured energy is in the right range.
  assert.ok(cons!.measured > 6 * 100 * 18 && cons!.measured < 6 * 300 * 22);

  // Every bad input is on the dead-letter topic with its reason.
  const want = ['malformed-json', 'unknown-host', 'invalid-power', 'out-of-range'];
  const letters = await readTopic(kafka, topics.deadletter, (seen) =>
    want.every((w) => seen.some((d) => d.kind === 'deadletter' && d.value.reason === w)),
  );
  const reasons = letters.map((d) => (d.kind === 'deadletter' ? d.value.reason : d.kind));
  for (const w of want) assert.ok(reasons.includes(w), `dead letter ${w} in ${reasons.join(', ')}`);
  const m = registry.render();
  assert.match(m, /joulestream_joiner_dead_letters_total\{reason="unknown-host"\} 1/);
  assert.match(m, /joulestream_joiner_dead_letters_total\{reason="invalid-power"\} 1/);
  // The operational gauges the joiner exports, with values; the state gauges are refreshed by its
  // 1 s timer, which may not have ticked yet in a fast run.
  const gauges = await waitFor('the 1 s state gauges', () =>
    Promise.resolve(registry.render()).then((t) =>
      /^joulestream_joiner_state_bytes \d/m.test(t) ? t : undefined,
    ),
  );
  for (const g of [
    'consumer_lag{',
    'windows{state="held"}',
    'state_bytes',
    'backlog_rows',
    'paused',
    'assigned_partitions',
  ])
    assert.ok(gauges.includes(`\njoulestream_joiner_${g}`), `metric ${g}`);
  assert.match(gauges, /^joulestream_joiner_paused 0$/m);
  // The latency histograms, in prom-client's exposition: one request-to-row observation per request
  // row written, and batches and insert rounds observed.
  const expo = await registry.exposition();
  const value = (series: string) => Number(new RegExp(`^${series} (\\S+)$`, 'm').exec(expo)?.[1] ?? NaN);
  const rowsWritten = value('joulestream_joiner_request_rows_total');
  assert.ok(rowsWritten > 0);
  assert.equal(value('joulestream_joiner_request_to_row_seconds_count'), rowsWritten);
  assert.ok(value('joulestream_joiner_batch_seconds_count') > 0);
  assert.ok(value('joulestream_joiner_insert_seconds_count') > 0);
  assert.match(expo, /^nodejs_eventloop_lag_seconds /m);
});
