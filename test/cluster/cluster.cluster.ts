// The cluster tests (scripts/test.sh runs this file after the suite; npm run test:cluster adds the
// broker failover of broker.cluster.ts): the native cluster of deploy/native/cluster.sh, real
// brokers, ZooKeeper and clickhouse-servers, no mocks. Replicated topics, migrations on every node,
// one replica / ZooKeeper stopped mid-run with rows compared against a clean run, and one input's
// reports from one server and from the cluster.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createClickHouse, migrate } from '../../services/adapters/clickhouse.ts';
import { createKafka, ensureTopics, topicsFor } from '../../services/adapters/kafka.ts';
import { createLogger } from '../../services/adapters/logger.ts';
import {
  localRows,
  replicaScenario,
  sameReport,
  zookeeperScenario,
  type ClusterResult,
} from '../../services/chaos/cluster-faults.ts';
import { clusterControl, clusterUp } from '../../services/chaos/cluster-stack.ts';
import { loadConfig, type Env } from '../../services/config/config.ts';
import { stackEnv } from '../support/stack.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let cluster: Env;
const results: ClusterResult[] = [];

function isolated(): Env {
  const id = randomBytes(4).toString('hex');
  return {
    ...cluster,
    CLICKHOUSE_DATABASE: `js_cluster_${id}`,
    KAFKA_TOPIC_PREFIX: `js-cluster-${id}.`,
    JOULESTREAM_GROUP_ID: `js-cluster-${id}`,
    JOULESTREAM_FLEET: ROOT + 'test/fixtures/fleet.test.yaml',
    LOG_LEVEL: 'warn',
  };
}

before(async () => {
  const t0 = Date.now();
  cluster = { ...process.env, ...(await clusterUp()) };
  process.stderr.write(`[cluster] up in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
});

after(() => {
  for (const r of results)
    process.stderr.write(
      `[cluster] ${r.scenario}: ${r.faults}; records in ${r.recordsIn}, rows ${r.requestRows} + ${r.ledgerRows}, lost ${r.lost}, duplicated ${r.duplicated}, changed ${r.changed}, repeats ${r.collapsedRepeats}, insert failures retried ${r.insertFailures}, joiner restarts ${r.joinerRestarts}, divergent shards ${r.divergentShards}, restart ${(r.restartMs / 1000).toFixed(1)} s, longest stall ${(r.stallMs / 1000).toFixed(1)} s, recovery ${(r.recoveryMs / 1000).toFixed(1)} s${r.convergeMs === undefined ? '' : `, ${r.missedRows} rows missed, replica converged ${(r.convergeMs / 1000).toFixed(1)} s after restart`}\n`,
    );
});

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

const assertClean = (r: ClusterResult) => {
  assert.ok(r.requestRows >= 300, `request rows ${r.requestRows}`);
  assert.equal(r.lost, 0, 'lost');
  assert.equal(r.duplicated, 0, 'duplicated');
  assert.equal(r.changed, 0, 'changed');
  assert.equal(r.divergentShards, 0, 'replicas differ');
};

test('one ClickHouse replica stopped mid-run: no row lost, duplicated or changed; it catches up; one input, same reports on one server and the cluster', async () => {
  const r = await replicaScenario(isolated(), clusterControl.clickhouse(3), 3, 4);
  results.push(r);
  assertClean(r);
  assert.ok(r.convergeMs !== undefined && r.convergeMs >= 0, 'replica never converged');
  // The fault bit: its peer took rows while it was down, which it then had to fetch.
  assert.ok((r.missedRows ?? 0) > 0, 'no rows were written to the shard while its replica was down');
  // The input spans both shards, so the reports below add up rows from both.
  const urls = loadConfig(r.clean).clickhouse.cluster!.nodeUrls;
  for (const n of [0, 2])
    assert.ok((await localRows(r.clean, urls[n]!)) > 0, `shard of node ${n + 1} has rows`);
  const s = await stackEnv();
  const single: Env = {
    ...r.clean,
    CLICKHOUSE_URL: s.CLICKHOUSE_URL,
    CLICKHOUSE_ADMIN_USER: s.CLICKHOUSE_ADMIN_USER,
    CLICKHOUSE_ADMIN_PASSWORD_FILE: s.CLICKHOUSE_ADMIN_PASSWORD_FILE,
    CLICKHOUSE_WRITER_USER: s.CLICKHOUSE_WRITER_USER,
    CLICKHOUSE_WRITER_PASSWORD_FILE: s.CLICKHOUSE_WRITER_PASSWORD_FILE,
    CLICKHOUSE_READER_USER: s.CLICKHOUSE_READER_USER,
    CLICKHOUSE_READER_PASSWORD_FILE: s.CLICKHOUSE_READER_PASSWORD_FILE,
    CLICKHOUSE_CLUSTER: '',
    CLICKHOUSE_NODE_URLS: '',
    JOULESTREAM_GROUP_ID: `${r.clean.JOULESTREAM_GROUP_ID!}-single`,
  };
  await migrate(loadConfig(single).clickhouse);
  const from = new Date(Date.now() - 2 * 3_600_000).toISOString();
  const to = new Date(Date.now() + 3_600_000).toISOString();
  const views = await sameReport(r.clean, single, r.requestRows, from, to);
  for (const v of views) {
    assert.ok(v.rows > 0, `${v.view}: no rows`);
    assert.equal(v.diff, null, `${v.view}: ${v.diff}`);
  }
});

test('ZooKeeper restarted mid-run: no row lost, duplicated or changed', async () => {
  const r = await zookeeperScenario(isolated(), clusterControl.zookeeper);
  results.push(r);
  assertClean(r);
  // The fault bit: without ZooKeeper the replicated tables refused inserts, and the joiner retried.
  assert.ok(r.insertFailures > 0, 'no insert failed while ZooKeeper was down');
});
