// Rewrites single-node migration statements for a sharded, replicated ClickHouse cluster, by rule, so
// that every migration file (today's and those still to come) is written once, for one server, and
// runs on both. Pure: no I/O; the runner (clickhouse.ts) sends the steps to the nodes.
//
// The rules (docs/schema.md repeats them for authors of new migrations):
//  - CREATE TABLE x (...) ENGINE = [Replacing|Summing|Aggregating|Collapsing]MergeTree(args) ...
//    becomes x_local with the Replicated engine on every node, plus x, a Distributed table over
//    x_local on every node. Readers and writers keep using x.
//  - The sharding key is murmurHash3_64(the first ORDER BY column that is not LowCardinality) unless the
//    statement carries a comment line `-- shard key: <expr>`. Whatever it is, it must be a function of ORDER BY columns, so every
//    version of a row lands on the same shard and FINAL sees them together.
//  - MATERIALIZED columns become ALIAS columns in the Distributed table: 18.16 refuses a Distributed
//    insert that would carry a MATERIALIZED column to the shard; the shard computes it instead.
//  - ALTER TABLE x (a sharded table) runs on x_local on one replica per shard (replication copies it
//    to the other), then, for column changes, on x on every node.
//  - DROP TABLE x drops x and x_local on every node; CREATE VIEW and CREATE DATABASE run on every node
//    unchanged (views read the Distributed tables); INSERT and OPTIMIZE go to the sharded tables.
//  - Anything else (materialized views, RENAME, other engines) is refused with the rule to follow.

import { JoulestreamError } from '../config/errors.ts';
import { ident } from './sql.ts';

export class ClusterDdlError extends JoulestreamError {}

/** Where a step runs: every node, one replica of each shard, or one node (through Distributed). */
export type Target = 'all' | 'one-per-shard' | 'one';

export interface Step {
  target: Target;
  sql: string;
}

export interface ClusterContext {
  cluster: string;
  database: string;
  /** Tables already sharded by earlier migrations (x for x_local). */
  sharded: ReadonlySet<string>;
}

export const LOCAL_SUFFIX = '_local';

const MERGE_TREE =
  /\bENGINE\s*=\s*(Replacing|Summing|Aggregating|Collapsing|VersionedCollapsing)?MergeTree\b(\s*\(([^)]*)\))?/i;

/** The statement's `-- shard key:` annotation, if any (read before comments are stripped). */
export function shardKeyAnnotation(raw: string): string | null {
  const m = /^\s*--\s*shard key:\s*(.+?)\s*$/im.exec(raw);
  return m ? m[1]! : null;
}

/** The column list of a CREATE TABLE: the text between the first '(' and its matching ')'. */
function columnList(sql: string, from: number): { start: number; end: number } {
  const start = sql.indexOf('(', from);
  if (start < 0) throw new ClusterDdlError(`no column list in: ${sql.slice(0, 120)}`);
  let depth = 0;
  for (let i = start; i < sql.length; i++) {
    if (sql[i] === '(') depth++;
    else if (sql[i] === ')' && --depth === 0) return { start, end: i };
  }
  throw new ClusterDdlError(`unbalanced parentheses in: ${sql.slice(0, 120)}`);
}

/**
 * The first ORDER BY column that is not LowCardinality: a plain column of the sorting key, so all
 * versions of a row share it; LowCardinality ones (grain, region) would pile a table on few shards.
 */
function defaultShardColumn(sql: string, columns: string): string | null {
  const m = /\bORDER BY\s+(\(([^)]*)\)|[A-Za-z_][A-Za-z0-9_]*)/i.exec(sql);
  if (!m) return null;
  const keys = (m[2] ?? m[1]!).split(',').map((k) => k.trim());
  return (
    keys.find(
      (k) =>
        /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) &&
        k.toLowerCase() !== 'tuple' &&
        new RegExp(`(^|[(,\\s])${k}\\s+(?!LowCardinality)[A-Z]`, 'm').test(columns),
    ) ?? null
  );
}

/** Plans one statement of a migration for the cluster. `raw` is the statement with its comments. */
export function planStatement(stmt: string, raw: string, ctx: ClusterContext): Step[] {
  const db = ident(ctx.database);
  const cluster = ident(ctx.cluster);
  const s = stmt.trim();

  if (/^CREATE\s+DATABASE\b/i.test(s) || /^CREATE\s+(OR\s+REPLACE\s+)?VIEW\b/i.test(s))
    return [{ target: 'all', sql: s }];
  if (/^CREATE\s+MATERIALIZED\s+VIEW\b/i.test(s))
    throw new ClusterDdlError(
      'materialized views are not supported in cluster mode: write the aggregate from a service (as the rollup does) or use a plain VIEW',
    );

  const create = /^CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?([A-Za-z_][A-Za-z0-9_]*)\b/i.exec(s);
  if (create) {
    const ifNot = create[1] ? 'IF NOT EXISTS ' : '';
    const name = create[2]!;
    const engine = MERGE_TREE.exec(s);
    if (!engine)
      throw new ClusterDdlError(
        `CREATE TABLE ${name}: cluster mode shards MergeTree-family tables only; use ENGINE = ReplacingMergeTree(version) or another *MergeTree`,
      );
    const local = name + LOCAL_SUFFIX;
    const path = `'/clickhouse/tables/{shard}/${db}/${local}'`;
    const args = engine[3]?.trim() ? `, ${engine[3].trim()}` : '';
    const replicated = `ENGINE = Replicated${engine[1] ?? ''}MergeTree(${path}, '{replica}'${args})`;
    const localSql =
      s.slice(0, create.index) +
      `CREATE TABLE ${ifNot}${local}` +
      s.slice(create.index + create[0].length, engine.index) +
      replicated +
      s.slice(engine.index + engine[0].length);
    const cols = columnList(s, create.index + create[0].length);
    const columnText = s.slice(cols.start, cols.end + 1);
    const key = shardKeyAnnotation(raw) ?? defaultShardColumn(s.slice(cols.end), columnText);
    if (!key)
      throw new ClusterDdlError(
        `CREATE TABLE ${name}: no sharding key; add a comment line "-- shard key: <expr of ORDER BY columns>"`,
      );
    // Any stable hash keeps a key's rows together; murmurHash3_64 (18.16 and current) spreads the
    // three hosts of the test fleet over both shards, where cityHash64 put all three on one.
    const shardKey = /^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? `murmurHash3_64(${key})` : key;
    const columns = columnText.replace(/\bMATERIALIZED\b/gi, 'ALIAS');
    const distributed = `CREATE TABLE ${ifNot}${name} ${columns} ENGINE = Distributed(${cluster}, ${db}, ${local}, ${shardKey})`;
    return [
      { target: 'all', sql: localSql },
      { target: 'all', sql: distributed },
    ];
  }

  const alter = /^ALTER\s+TABLE\s+([A-Za-z_][A-Za-z0-9_]*)\b/i.exec(s);
  if (alter) {
    const name = alter[1]!;
    if (!ctx.sharded.has(name)) return [{ target: 'all', sql: s }];
    const rest = s.slice(alter[0].length);
    const steps: Step[] = [{ target: 'one-per-shard', sql: `ALTER TABLE ${name}${LOCAL_SUFFIX}${rest}` }];
    // Column changes only: mutations and partition operations do not exist on Distributed tables.
    if (/^\s*(ADD|DROP|MODIFY|COMMENT)\s+COLUMN\b/i.test(rest))
      steps.push({ target: 'all', sql: `ALTER TABLE ${name}${rest.replace(/\bMATERIALIZED\b/gi, 'ALIAS')}` });
    return steps;
  }

  const drop = /^DROP\s+TABLE\s+(IF\s+EXISTS\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*$/i.exec(s);
  if (drop) {
    const name = drop[2]!;
    const steps: Step[] = [{ target: 'all', sql: s }];
    if (ctx.sharded.has(name))
      steps.push({ target: 'all', sql: `DROP TABLE IF EXISTS ${name}${LOCAL_SUFFIX}` });
    return steps;
  }

  const optimize = /^OPTIMIZE\s+TABLE\s+([A-Za-z_][A-Za-z0-9_]*)\b/i.exec(s);
  if (optimize && ctx.sharded.has(optimize[1]!))
    return [
      {
        target: 'one-per-shard',
        sql: `OPTIMIZE TABLE ${optimize[1]!}${LOCAL_SUFFIX}${s.slice(optimize[0].length)}`,
      },
    ];

  if (/^INSERT\b/i.test(s)) return [{ target: 'one', sql: s }];
  if (/^DROP\s+VIEW\b/i.test(s)) return [{ target: 'all', sql: s }];

  throw new ClusterDdlError(
    `cluster mode has no rule for: ${s.slice(0, 80)}; see docs/schema.md ("Migrations on a cluster")`,
  );
}

/** The tables that become sharded by a statement (so later ALTERs in the same run find them). */
export function shardedBy(stmt: string): string | null {
  const create = /^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([A-Za-z_][A-Za-z0-9_]*)\b/i.exec(stmt);
  return create && MERGE_TREE.test(stmt) ? create[1]! : null;
}
