// The cluster tests (scripts/test.sh runs this file after the suite; npm run test:cluster adds the
// broker failover of broker.cluster.ts): the native cluster of deploy/native/cluster.sh, real
// brokers, ZooKeeper and clickhouse-servers, no mocks. Replicated topics, migrations on every node,
// one replica / ZooKeeper stopped mid-run with rows compared against a clean run, and one input's
// reports from one server and from the cluster.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createClickHouse, migrate } from '../../services/adapters/clickhouse.ts';
import { createKafka, ensureTopics, topicsFor } from '../../services/adapters/kafka.ts';
import { createLogger } from '../../services/adapters/logger.ts';
import { replicaScenario, zookeeperScenario } from '../../services/chaos/cluster-faults.ts';
import { clusterControl } from '../../services/chaos/cluster-stack.ts';
import { loadConfig } from '../../services/config/config.ts';
import { assertClean, assertSameReport, useCluster } from './common.ts';

const { isolated, results } = useCluster();

test('topics get 3 replicas and min.insync.replicas=2 on the cluster', async () => {
  const env = isolated();
  const config = loadConfig(env);
  const kafka = createKafka(config.kafka, createLogger('test', 'error'));
  const topics = topicsFor(config.kafka.topicPrefix);
  await ensureTopics(kafka, topics, 3, config.kafka);
  const admin = kafka.admin();
  await admin.connect();
  try {
    const meta = await admin.fetchTopicMetadata({ topics: [topics.requests, topics.power] });
    for (const t of meta.topics) for (const p of t.partitions) assert.equal(p.replicas.length, 3, t.name);
    const cfg = await admin.describeConfigs({
      resources: [{ type: 2, name: topics.requests, configNames: ['min.insync.replicas'] }],
      includeSynonyms: false,
    });
    assert.equal(cfg.resources[0]!.configEntries[0]!.configValue, '2');
  } finally {
    await admin.disconnect();
  }
});

test('migrations make Replicated local tables and Distributed tables on every node, twice safely', async () => {
  const env = isolated();
  const cfg = loadConfig(env).clickhouse;
  const first = await migrate(cfg);
  assert.ok(first.length >= 5);
  assert.deepEqual(await migrate(cfg), []);
  for (const url of cfg.cluster!.nodeUrls) {
    const ch = createClickHouse({ url }, cfg.admin!, cfg.database);
    try {
      const rows = await (
        await ch.query({
          query: `SELECT name, engine FROM system.tables WHERE database = '${cfg.database}' AND name IN ('request_energy', 'request_energy_local', 'host_ledger', 'host_ledger_local') ORDER BY name`,
          format: 'JSONEachRow',
        })
      ).json<{ name: string; engine: string }>();
      assert.deepEqual(
        rows.map((r) => `${r.name}:${r.engine}`),
        [
          'host_ledger:Distributed',
          'host_ledger_local:ReplicatedReplacingMergeTree',
          'request_energy:Distributed',
          'request_energy_local:ReplicatedReplacingMergeTree',
        ],
        url,
      );
    } finally {
      await ch.close();
    }
  }
});

test('one ClickHouse replica stopped mid-run: no row lost, duplicated or changed; it catches up; one input, same reports on one server and the cluster', async () => {
  const r = await replicaScenario(isolated(), clusterControl.clickhouse(3), 3, 4);
  results.push(r);
  assertClean(r);
  assert.ok(r.convergeMs !== undefined && r.convergeMs >= 0, 'replica never converged');
  // The fault bit: its peer took rows while it was down, which it then had to fetch.
  assert.ok((r.missedRows ?? 0) > 0, 'no rows were written to the shard while its replica was down');
  await assertSameReport(r);
});

test('ZooKeeper restarted mid-run: no row lost, duplicated or changed', async () => {
  const r = await zookeeperScenario(isolated(), clusterControl.zookeeper);
  results.push(r);
  assertClean(r);
  // The fault bit: without ZooKeeper the replicated tables refused inserts, and the joiner retried.
  assert.ok(r.insertFailures > 0, 'no insert failed while ZooKeeper was down');
});
