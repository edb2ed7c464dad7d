import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { defaultGroupId, loadConfig } from './config.ts';
import { ConfigError } from './errors.ts';
import { parseFleet } from './fleet-parse.ts';

const base = {
  KAFKA_BROKERS: '127.0.0.1:9092',
  CLICKHOUSE_URL: 'http://127.0.0.1:8123',
  CLICKHOUSE_WRITER_USER: 'w',
  CLICKHOUSE_WRITER_PASSWORD: 'wpw',
  CLICKHOUSE_READER_USER: 'r',
  CLICKHOUSE_READER_PASSWORD: 'rpw',
};

test('defaults, env overrides, frozen result', () => {
  const c = loadConfig({ ...base, JOULESTREAM_WINDOW_MS: '500' });
  assert.equal(c.joiner.windowMs, 500);
  assert.equal(c.joiner.horizonMs, 900_000);
  assert.equal(c.clickhouse.database, 'joulestream');
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.joiner));
});

test('prefetch: one batch by default, 0 turns it off, the bound is checked', () => {
  assert.equal(loadConfig(base).joiner.prefetchBatches, 1);
  assert.equal(loadConfig({ ...base, JOULESTREAM_PREFETCH_BATCHES: '0' }).joiner.prefetchBatches, 0);
  assert.throws(
    () => loadConfig({ ...base, JOULESTREAM_PREFETCH_BATCHES: '65' }),
    /JOULESTREAM_PREFETCH_BATCHES/,
  );
});

test('secrets can come from *_FILE', () => {
  const dir = mkdtempSync(join(tmpdir(), 'js-'));
  writeFileSync(join(dir, 'pw'), 's3cret\n');
  const c = loadConfig({
    ...base,
    CLICKHOUSE_WRITER_PASSWORD: undefined,
    CLICKHOUSE_WRITER_PASSWORD_FILE: join(dir, 'pw'),
  });
  assert.equal(c.clickhouse.writer.password, 's3cret');
});

test('errors say what to fix', () => {
  assert.throws(() => loadConfig({ ...base, KAFKA_BROKERS: '' }), /KAFKA_BROKERS is not set/);
  assert.throws(
    () => loadConfig({ ...base, JOULESTREAM_WINDOW_MS: 'abc' }),
    /JOULESTREAM_WINDOW_MS=abc is invalid/,
  );
  assert.throws(() => loadConfig({ ...base, CLICKHOUSE_DATABASE: 'x; DROP' }), ConfigError);
  assert.throws(
    () => loadConfig({ ...base, CLICKHOUSE_URL: 'http://u:p@h:1' }),
    /must not carry credentials/,
  );
  assert.throws(() => loadConfig({ ...base, KAFKA_SASL_MECHANISM: 'scram-sha-512' }), /KAFKA_SASL_USERNAME/);
});

test('fleet: host ranges expand; bad references name the path', () => {
  const shipped = {
    models: [{ id: 'g', idleW: 1, maxW: 2, embodiedKgCO2e: 0, lifetimeYears: 1 }],
    annualFactors: { FR: 56 },
  };
  const f = parseFleet(
    {
      facilities: [{ id: 'p', region: 'eu', zone: 'FR', pue: 1.2 }],
      hosts: [{ prefix: 'gpu-', count: 3, facility: 'p', gpuCount: 8, models: { accelerator: 'g' } }],
    },
    shipped,
  );
  assert.deepEqual([...f.hosts.keys()], ['gpu-001', 'gpu-002', 'gpu-003']);
  assert.equal(f.zones.get('FR')!.annualGPerKWh, 56);
  assert.throws(
    () => parseFleet({ facilities: [{ id: 'p', region: 'eu', zone: 'XX', pue: 1.2 }], hosts: [] }, shipped),
    /zone XX has no annual factor/,
  );
  assert.throws(
    () =>
      parseFleet(
        {
          facilities: [{ id: 'p', region: 'eu', zone: 'FR', pue: 1.2 }],
          hosts: [{ id: 'h', facility: 'q', gpuCount: 1 }],
        },
        shipped,
      ),
    /hosts\[0\]\.facility names q/,
  );
  assert.throws(
    () => parseFleet({ facilities: [{ id: 'p', region: 'eu', zone: 'FR', pue: 0.5 }], hosts: [] }, shipped),
    /pue/,
  );
});

test('fleet: engine instances map to a host and its GPUs, checked against the host', () => {
  const shipped = { models: [], annualFactors: { FR: 56 } };
  const base = {
    facilities: [{ id: 'p', region: 'eu', zone: 'FR', pue: 1.2 }],
    hosts: [{ id: 'h', facility: 'p', gpuCount: 4 }],
  };
  const f = parseFleet({ ...base, instances: [{ id: 'vllm-a', host: 'h', gpus: [0, 1] }] }, shipped);
  assert.deepEqual(f.instances?.get('vllm-a'), { host: 'h', gpus: [0, 1] });
  assert.throws(
    () => parseFleet({ ...base, instances: [{ id: 'x', host: 'nope', gpus: [0] }] }, shipped),
    /instances\[0\]\.host.*not among hosts/,
  );
  assert.throws(
    () => parseFleet({ ...base, instances: [{ id: 'x', host: 'h', gpus: [4] }] }, shipped),
    /instances\[0\]\.gpus.*0-3/,
  );
});

test('the default group id follows the topic prefix; the default prefix keeps the old group', () => {
  assert.equal(defaultGroupId('joulestream.'), 'joulestream-joiner');
  assert.equal(defaultGroupId('staging.'), 'staging-joiner');
  assert.equal(defaultGroupId('team_b-'), 'team_b-joiner');
  assert.notEqual(defaultGroupId(''), defaultGroupId('joulestream.'));
});

test('a second pipeline (another KAFKA_TOPIC_PREFIX) gets its own group unless one is set', () => {
  assert.equal(loadConfig(base).joiner.groupId, 'joulestream-joiner');
  assert.equal(loadConfig({ ...base, KAFKA_TOPIC_PREFIX: 'p2.' }).joiner.groupId, 'p2-joiner');
  assert.equal(
    loadConfig({ ...base, KAFKA_TOPIC_PREFIX: 'p2.', JOULESTREAM_GROUP_ID: 'shared' }).joiner.groupId,
    'shared',
  );
});

test('commands need only what they use: no Kafka for report, no ClickHouse for collectors', () => {
  const { KAFKA_BROKERS: _k, ...noKafka } = base;
  const { CLICKHOUSE_URL: _c, ...noClickHouse } = base;
  assert.throws(() => loadConfig(noKafka), /KAFKA_BROKERS is not set/);
  const report = loadConfig(noKafka, { kafka: false, clickhouse: true });
  assert.equal(report.clickhouse.database, 'joulestream');
  assert.throws(() => report.kafka.brokers, /without Kafka settings.*set KAFKA_BROKERS/);
  const collector = loadConfig(noClickHouse, { kafka: true, clickhouse: false });
  assert.deepEqual(collector.kafka.brokers, ['127.0.0.1:9092']);
  assert.throws(() => collector.clickhouse.url, /without ClickHouse settings/);
  // Given although not needed, a setting is still validated.
  assert.throws(
    () => loadConfig({ ...base, KAFKA_BROKERS: 'nope' }, { kafka: false, clickhouse: true }),
    /not host:port/,
  );
});

test('clock bounds are settings: 7 days back and 5 minutes ahead unless widened', () => {
  assert.deepEqual(loadConfig(base).clock, { maxPastMs: 168 * 3_600_000, maxFutureMs: 300_000 });
  const backfill = loadConfig({ ...base, JOULESTREAM_MAX_PAST_H: '1440', JOULESTREAM_MAX_FUTURE_S: '30' });
  assert.deepEqual(backfill.clock, { maxPastMs: 1440 * 3_600_000, maxFutureMs: 30_000 });
  assert.throws(() => loadConfig({ ...base, JOULESTREAM_MAX_PAST_H: '0' }), /JOULESTREAM_MAX_PAST_H=0/);
});
