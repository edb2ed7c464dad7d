// What the cluster test files share: the cluster started once per file, an isolated database,
// topics and group per scenario, the summary line per result, and the two assertions every fault
// scenario makes (rows equal to a clean run's; one input, the same reports on one server and the
// cluster).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { migrate } from '../../services/adapters/clickhouse.ts';
import { localRows, sameReport, type ClusterResult } from '../../services/chaos/cluster-faults.ts';
import { clusterUp } from '../../services/chaos/cluster-stack.ts';
import { loadConfig, type Env } from '../../services/config/config.ts';
import { stackEnv } from '../support/stack.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Starts the cluster before the file's tests; prints each recorded result after them. */
export function useCluster(): { isolated: () => Env; results: ClusterResult[] } {
  let cluster: Env = {};
  const results: ClusterResult[] = [];
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
  const isolated = (): Env => {
    const id = randomBytes(4).toString('hex');
    return {
      ...cluster,
      CLICKHOUSE_DATABASE: `js_cluster_${id}`,
      KAFKA_TOPIC_PREFIX: `js-cluster-${id}.`,
      JOULESTREAM_GROUP_ID: `js-cluster-${id}`,
      JOULESTREAM_FLEET: ROOT + 'test/fixtures/fleet.test.yaml',
      LOG_LEVEL: 'warn',
    };
  };
  return { isolated, results };
}

export const assertClean = (r: ClusterResult) => {
  assert.ok(r.requestRows >= 300, `request rows ${r.requestRows}`);
  assert.equal(r.lost, 0, 'lost');
  assert.equal(r.duplicated, 0, 'duplicated');
  assert.equal(r.changed, 0, 'changed');
  assert.equal(r.divergentShards, 0, 'replicas differ');
};

/** The clean run's input, reported from the cluster and from the single server: the same views. */
export async function assertSameReport(r: ClusterResult): Promise<void> {
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
}
