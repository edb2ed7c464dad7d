// The native cluster (deploy/native/cluster.sh) seen from TypeScript: start it, read its environment,
// and stop or start one of its processes for the cluster fault scenarios.

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ServerControl } from './faults.ts';
import { parseExports } from './native-stack.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLUSTER = ROOT + 'deploy/native/cluster.sh';

const cluster = async (...args: string[]) =>
  void (await run('bash', [CLUSTER, ...args], { cwd: ROOT, timeout: 300_000 }));

/** Starts the cluster if needed (fetches jars on first use) and returns its environment. */
export async function clusterUp(): Promise<Record<string, string>> {
  await cluster('up');
  const { stdout } = await run('bash', [CLUSTER, 'env'], { cwd: ROOT });
  return parseExports(stdout);
}

export const clusterControl = {
  broker: (n: 1 | 2 | 3): ServerControl => ({
    stop: () => cluster('broker-stop', String(n)),
    start: () => cluster('broker-start', String(n)),
  }),
  /** 1 and 2 are shard 1's replicas, 3 and 4 shard 2's; CLICKHOUSE_URL is node 1. */
  clickhouse: (n: 1 | 2 | 3 | 4): ServerControl => ({
    stop: () => cluster('clickhouse-stop', String(n)),
    start: () => cluster('clickhouse-start', String(n)),
  }),
  zookeeper: {
    stop: () => cluster('zookeeper-stop'),
    start: () => cluster('zookeeper-start'),
  } as ServerControl,
};
