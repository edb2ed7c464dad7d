import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from './config.ts';
import { ConfigError } from './errors.ts';

const base = {
  KAFKA_BROKERS: 'k1:9092',
  CLICKHOUSE_URL: 'http://c1:8123',
  CLICKHOUSE_WRITER_USER: 'w',
  CLICKHOUSE_WRITER_PASSWORD: 'w',
  CLICKHOUSE_READER_USER: 'r',
  CLICKHOUSE_READER_PASSWORD: 'r',
};

test('one server and broker defaults unless the cluster settings are given', () => {
  const c = loadConfig(base);
  assert.equal(c.clickhouse.cluster, null);
  assert.equal(c.kafka.replicationFactor, -1);
  assert.equal(c.kafka.minInsyncReplicas, null);
});

test('the cluster settings: name, every node for migrations, topic replication', () => {
  const c = loadConfig({
    ...base,
    CLICKHOUSE_CLUSTER: 'joulestream',
    CLICKHOUSE_NODE_URLS: 'http://c1:8123/, http://c2:8123,http://c1:8123',
    KAFKA_REPLICATION_FACTOR: '3',
    KAFKA_MIN_INSYNC_REPLICAS: '2',
  });
  assert.deepEqual(c.clickhouse.cluster, {
    name: 'joulestream',
    nodeUrls: ['http://c1:8123', 'http://c2:8123'],
  });
  assert.equal(c.kafka.replicationFactor, 3);
  assert.equal(c.kafka.minInsyncReplicas, 2);
});

test('cluster settings that cannot work are refused with what to fix', () => {
  assert.throws(
    () => loadConfig({ ...base, CLICKHOUSE_CLUSTER: 'joulestream' }),
    /CLICKHOUSE_NODE_URLS must list/,
  );
  assert.throws(
    () => loadConfig({ ...base, CLICKHOUSE_CLUSTER: 'bad-name', CLICKHOUSE_NODE_URLS: 'http://c1:8123' }),
    ConfigError,
  );
  assert.throws(
    () => loadConfig({ ...base, CLICKHOUSE_CLUSTER: 'c', CLICKHOUSE_NODE_URLS: 'http://u:p@c1:8123' }),
    /without credentials/,
  );
  assert.throws(() => loadConfig({ ...base, KAFKA_REPLICATION_FACTOR: '0' }), /KAFKA_REPLICATION_FACTOR/);
});
