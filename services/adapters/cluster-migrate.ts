// The migration runner for a sharded, replicated ClickHouse: the same migration files as one server,
// rewritten by rule (cluster-ddl.ts) and sent to each node itself, not through ON CLUSTER: 18.16's
// distributed DDL queue needs every node to recognise itself by host name, which nodes sharing
// 127.0.0.1 cannot, and a per-node runner reports which node refused a statement.

import type { ClickHouseClient } from '@clickhouse/client';
import type { ClickHouseConfig, Credentials } from '../config/config.ts';
import {
  ClickHouseError,
  compatSettings,
  createClickHouse,
  listMigrations,
  SCHEMA_MIGRATIONS,
  serverVersion,
  statementsWithComments,
} from './clickhouse.ts';
import { LOCAL_SUFFIX, planStatement, shardedBy, type Step } from './cluster-ddl.ts';
import { ident, quote } from './sql.ts';

interface Node {
  url: string;
  shard: string;
  ch: ClickHouseClient;
  settings: Record<string, number>;
}

const rows = async <T>(ch: ClickHouseClient, query: string): Promise<T[]> =>
  (await ch.query({ query, format: 'JSONEachRow' })).json<T>();

async function openNodes(urls: readonly string[], who: Credentials, db: string): Promise<Node[]> {
  const nodes: Node[] = [];
  for (const url of urls) {
    const root = createClickHouse({ url }, who);
    try {
      await root.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
    } catch (err) {
      throw new ClickHouseError(`cluster node ${url} refused CREATE DATABASE: ${String(err)}`, {
        retriable: true,
        cause: err,
      });
    } finally {
      await root.close();
    }
    const ch = createClickHouse({ url }, who, db);
    const shard = (
      await rows<{ substitution: string }>(ch, "SELECT substitution FROM system.macros WHERE macro = 'shard'")
    )[0]?.substitution;
    if (!shard) {
      await ch.close();
      throw new ClickHouseError(
        `cluster node ${url} has no {shard} macro: give every node <macros><shard/><replica/></macros>`,
      );
    }
    nodes.push({ url, shard, ch, settings: compatSettings(await serverVersion(ch)) });
  }
  return nodes;
}

async function run(nodes: Node[], step: Step): Promise<void> {
  const exec = async (n: Node, sql: string) => {
    try {
      await n.ch.command({ query: sql, clickhouse_settings: n.settings });
    } catch (err) {
      throw new ClickHouseError(`cluster node ${n.url} (shard ${n.shard}) refused: ${sql.slice(0, 200)}`, {
        retriable: false,
        cause: err,
      });
    }
  };
  if (step.target === 'one') return exec(nodes[0]!, step.sql);
  if (step.target === 'all') {
    for (const n of nodes) await exec(n, step.sql);
    return;
  }
  // One replica per shard; replication copies it to the others, which are then waited for so the
  // next statement (a view over the new column, say) sees the same table on every node.
  const byShard = new Map<string, Node[]>();
  for (const n of nodes) byShard.set(n.shard, [...(byShard.get(n.shard) ?? []), n]);
  const table = /^\w+\s+TABLE\s+([A-Za-z0-9_]+)/i.exec(step.sql)?.[1];
  for (const [first, ...others] of byShard.values()) {
    await exec(first!, step.sql);
    if (table) for (const o of others) await exec(o, `SYSTEM SYNC REPLICA ${ident(table)}`);
  }
}

export async function migrateCluster(
  cfg: ClickHouseConfig,
  who: Credentials,
  cluster: NonNullable<ClickHouseConfig['cluster']>,
  log?: { info: (o: object, m: string) => void },
): Promise<string[]> {
  const db = ident(cfg.database);
  const nodes = await openNodes(cluster.nodeUrls, who, db);
  const applied: string[] = [];
  try {
    for (const n of nodes) await n.ch.command({ query: SCHEMA_MIGRATIONS });
    // A migration is applied when every node has its record: a run cut short is resumed, and
    // its statements are CREATE ... IF NOT EXISTS where they can be.
    const done = await Promise.all(
      nodes.map(
        async (n) =>
          new Map(
            (
              await rows<{ name: string; checksum: string }>(
                n.ch,
                'SELECT name, checksum FROM schema_migrations',
              )
            ).map((r) => [r.name, r.checksum]),
          ),
      ),
    );
    const sharded = new Set(
      (
        await rows<{ name: string }>(
          nodes[0]!.ch,
          `SELECT name FROM system.tables WHERE database = ${quote(cfg.database)} AND engine LIKE 'Replicated%'`,
        )
      )
        .map((r) => r.name)
        .filter((n) => n.endsWith(LOCAL_SUFFIX))
        .map((n) => n.slice(0, -LOCAL_SUFFIX.length)),
    );
    for (const m of listMigrations()) {
      for (const [i, d] of done.entries()) {
        const prior = d.get(m.name);
        if (prior !== undefined && prior !== m.checksum)
          throw new ClickHouseError(
            `migration ${m.name} was edited after it was applied to ${db} on ${nodes[i]!.url}; add a new migration instead of changing it`,
          );
      }
      if (done.every((d) => d.has(m.name))) continue;
      for (const { sql, raw } of statementsWithComments(m.sql)) {
        for (const step of planStatement(sql, raw, {
          cluster: cluster.name,
          database: cfg.database,
          sharded,
        }))
          await run(nodes, step);
        const made = shardedBy(sql);
        if (made) sharded.add(made);
      }
      for (const [i, n] of nodes.entries())
        if (!done[i]!.has(m.name))
          await n.ch.command({
            query: `INSERT INTO schema_migrations (name, checksum) VALUES (${quote(m.name)}, ${quote(m.checksum)})`,
          });
      applied.push(m.name);
      log?.info(
        { migration: m.name, database: db, cluster: cluster.name },
        'applied migration on the cluster',
      );
    }
  } finally {
    await Promise.all(nodes.map((n) => n.ch.close()));
  }
  return applied;
}
