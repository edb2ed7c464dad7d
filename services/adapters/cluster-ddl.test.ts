import assert from 'node:assert/strict';
import { test } from 'node:test';
import { listMigrations, statementsWithComments } from './clickhouse.ts';
import { ClusterDdlError, planStatement, shardedBy, type ClusterContext } from './cluster-ddl.ts';

const ctx = (sharded: string[] = []): ClusterContext => ({
  cluster: 'c1',
  database: 'db',
  sharded: new Set(sharded),
});
const plan = (sql: string, sharded: string[] = []) => planStatement(sql, sql, ctx(sharded));

const TABLE = `CREATE TABLE IF NOT EXISTS t
(
    host String,
    zone LowCardinality(String),
    ms UInt64,
    at DateTime MATERIALIZED toDateTime(intDiv(ms, 1000)),
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(toDateTime(intDiv(ms, 1000)))
ORDER BY (host, ms)`;

test('a ReplacingMergeTree table becomes a Replicated local table and a Distributed table on every node', () => {
  const [local, dist] = plan(TABLE);
  assert.equal(local!.target, 'all');
  assert.match(local!.sql, /^CREATE TABLE IF NOT EXISTS t_local\n\(/);
  assert.match(
    local!.sql,
    /ENGINE = ReplicatedReplacingMergeTree\('\/clickhouse\/tables\/\{shard\}\/db\/t_local', '\{replica\}', version\)\nPARTITION BY/,
  );
  assert.match(local!.sql, /at DateTime MATERIALIZED/);
  assert.equal(dist!.target, 'all');
  assert.match(dist!.sql, /^CREATE TABLE IF NOT EXISTS t \(/);
  assert.match(dist!.sql, /ENGINE = Distributed\(c1, db, t_local, murmurHash3_64\(host\)\)$/);
  // 18.16 refuses a Distributed insert that carries a MATERIALIZED column: ALIAS there instead.
  assert.match(dist!.sql, /at DateTime ALIAS toDateTime/);
  assert.doesNotMatch(dist!.sql, /MATERIALIZED|PARTITION BY|ORDER BY/);
  assert.equal(shardedBy(TABLE), 't');
});

test('the sharding key: the first non-LowCardinality ORDER BY column, or the annotation', () => {
  const lc = TABLE.replace('ORDER BY (host, ms)', 'ORDER BY (zone, ms, host)');
  assert.match(plan(lc)[1]!.sql, /murmurHash3_64\(ms\)\)$/);
  const annotated = `-- shard key: cityHash64(host, zone)\n${lc}`;
  assert.match(planStatement(lc, annotated, ctx())[1]!.sql, /, cityHash64\(host, zone\)\)$/);
  const bare = TABLE.replace('ENGINE = ReplacingMergeTree(version)', 'ENGINE = MergeTree').replace(
    'ORDER BY (host, ms)',
    'ORDER BY host',
  );
  const [local, dist] = plan(bare);
  assert.match(
    local!.sql,
    /ENGINE = ReplicatedMergeTree\('\/clickhouse\/tables\/\{shard\}\/db\/t_local', '\{replica\}'\)\n/,
  );
  assert.match(dist!.sql, /murmurHash3_64\(host\)\)$/);
  assert.throws(() => plan(TABLE.replace('ORDER BY (host, ms)', 'ORDER BY tuple()')), ClusterDdlError);
});

test('ALTER on a sharded table: once per shard on the local table, columns also on the Distributed table', () => {
  const add = plan('ALTER TABLE t ADD COLUMN x Float64 DEFAULT 0', ['t']);
  assert.deepEqual(add, [
    { target: 'one-per-shard', sql: 'ALTER TABLE t_local ADD COLUMN x Float64 DEFAULT 0' },
    { target: 'all', sql: 'ALTER TABLE t ADD COLUMN x Float64 DEFAULT 0' },
  ]);
  const mat = plan('ALTER TABLE t ADD COLUMN d Date MATERIALIZED toDate(at)', ['t']);
  assert.equal(mat[1]!.sql, 'ALTER TABLE t ADD COLUMN d Date ALIAS toDate(at)');
  // Mutations and partition operations do not exist on Distributed tables.
  assert.deepEqual(plan("ALTER TABLE t DELETE WHERE host = 'x'", ['t']), [
    { target: 'one-per-shard', sql: "ALTER TABLE t_local DELETE WHERE host = 'x'" },
  ]);
  // A table that is not sharded (created outside the rules) is altered as it is, everywhere.
  assert.deepEqual(plan('ALTER TABLE other ADD COLUMN x UInt8'), [
    { target: 'all', sql: 'ALTER TABLE other ADD COLUMN x UInt8' },
  ]);
});

test('views and databases run unchanged on every node; DROP takes the local table too; the rest is refused', () => {
  const view = 'CREATE VIEW IF NOT EXISTS v AS SELECT host FROM t FINAL';
  assert.deepEqual(plan(view), [{ target: 'all', sql: view }]);
  assert.deepEqual(plan('DROP TABLE IF EXISTS t', ['t']), [
    { target: 'all', sql: 'DROP TABLE IF EXISTS t' },
    { target: 'all', sql: 'DROP TABLE IF EXISTS t_local' },
  ]);
  assert.deepEqual(plan('INSERT INTO t SELECT * FROM s'), [
    { target: 'one', sql: 'INSERT INTO t SELECT * FROM s' },
  ]);
  assert.throws(
    () => plan('CREATE MATERIALIZED VIEW m ENGINE = MergeTree ORDER BY a AS SELECT 1 AS a'),
    /materialized views/,
  );
  assert.throws(() => plan('CREATE TABLE m (a UInt8) ENGINE = Memory'), /MergeTree-family/);
  assert.throws(() => plan('RENAME TABLE a TO b'), /no rule/);
});

test("every migration in schemas/clickhouse has a plan, and each table's key comes from its ORDER BY", () => {
  const sharded = new Set<string>();
  const keys: Record<string, string> = {};
  for (const m of listMigrations())
    for (const { sql, raw } of statementsWithComments(m.sql)) {
      const steps = planStatement(sql, raw, { cluster: 'c1', database: 'db', sharded });
      assert.ok(steps.length > 0, m.name);
      const made = shardedBy(sql);
      if (made) {
        sharded.add(made);
        keys[made] = /Distributed\(c1, db, \w+, (.+)\)$/.exec(steps[1]!.sql)![1]!;
      }
    }
  // A host's rows, and every version of them, on one shard (request_energy and the ledger).
  assert.equal(keys.request_energy, 'murmurHash3_64(host)');
  assert.equal(keys.host_ledger, 'murmurHash3_64(host)');
  assert.equal(keys.rollup, 'murmurHash3_64(period_start)');
  assert.equal(keys.facility_info, 'murmurHash3_64(facility)');
});
