// Fault scenarios on the native cluster (3 brokers, ZooKeeper, 2 shards x 2 replicas): one broker,
// one ClickHouse replica or ZooKeeper stopped while the joiner runs and input keeps arriving. Each
// compares the final rows with a clean run over the same topics and checks that the replicas of
// every shard hold the same rows afterwards. Also: the same input through one server and through
// the cluster, compared report by report.

import { execFile, spawn } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createClickHouse } from '../adapters/clickhouse.ts';
import { loadConfig, type Env } from '../config/config.ts';
import type { ServerControl } from './faults.ts';
import {
  compare,
  freePort,
  kill,
  killAll,
  query,
  runToCompletion,
  sleep,
  startRun,
  timeToCatchUp,
  type Comparison,
  type JoinerProcess,
  type Run,
} from './scenario.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const exec = promisify(execFile);

export interface ClusterResult extends Comparison {
  scenario: string;
  faults: string;
  recordsIn: number;
  /** From the restart command until the faulty joiner had caught up (lag 0, nothing waiting). */
  recoveryMs: number;
  /** How long the restart command took until the process answered (ready) again. */
  restartMs: number;
  /**
   * The longest time, from the stop until the end, that the faulty joiner consumed nothing while
   * input kept arriving: what the fault cost the pipeline (failover or backpressure).
   */
  stallMs: number;
  /** Shards whose two replicas hold different deduplicated rows at the end (0: converged). */
  divergentShards: number;
  /** Faulty joiners restarted because they made no progress for 45 s (see completeWithWatchdog). */
  joinerRestarts: number;
  /** ClickHouse insert rounds the faulty joiner saw fail (and retried) by the end of the outage. */
  insertFailures: number;
  /** Rows its peer took while the stopped replica was down (replica scenario only). */
  missedRows?: number;
  /** From the replica's restart command until it had fetched what it missed (replica scenario only). */
  convergeMs?: number;
  /** The clean run's environment (its rows are complete), for comparisons beyond this scenario. */
  clean: Env;
}

const FEED = { requests: 300, feedMs: 15_000 };

/** Per replica, a fingerprint of its local deduplicated rows (count and an order-free hash sum). */
async function fingerprints(env: Env): Promise<Map<string, string[]>> {
  const cfg = loadConfig(env).clickhouse;
  const byShard = new Map<string, string[]>();
  for (const url of cfg.cluster?.nodeUrls ?? []) {
    const ch = createClickHouse({ url }, cfg.admin!, cfg.database);
    try {
      const rows = await (
        await ch.query({
          query: `SELECT
              (SELECT substitution FROM system.macros WHERE macro = 'shard') AS shard,
              (SELECT concat(toString(count()), ':', toString(sum(cityHash64(request_id, host, version, it_j, facility_j)))) FROM request_energy_local FINAL) AS r,
              (SELECT concat(toString(count()), ':', toString(sum(cityHash64(host, device_group, window_start_ms, version, measured_j, attributed_j)))) FROM host_ledger_local FINAL) AS l`,
          format: 'JSONEachRow',
        })
      ).json<{ shard: string; r: string; l: string }>();
      const f = rows[0]!;
      byShard.set(f.shard, [...(byShard.get(f.shard) ?? []), `${f.r}/${f.l}`]);
    } finally {
      await ch.close();
    }
  }
  return byShard;
}

/** Waits until one node has applied its replication queue for the two row tables. */
async function syncReplica(env: Env, url: string): Promise<void> {
  const cfg = loadConfig(env).clickhouse;
  const ch = createClickHouse({ url }, cfg.admin!, cfg.database);
  try {
    for (const t of ['request_energy_local', 'host_ledger_local'])
      await ch.command({ query: `SYSTEM SYNC REPLICA ${t}` });
  } finally {
    await ch.close();
  }
}

/** Waits for every replica to apply its queue, then counts shards whose replicas differ. */
export async function divergentShards(env: Env): Promise<number> {
  const cfg = loadConfig(env).clickhouse;
  for (const url of cfg.cluster?.nodeUrls ?? []) {
    const ch = createClickHouse({ url }, cfg.admin!, cfg.database);
    try {
      for (const t of ['request_energy_local', 'host_ledger_local'])
        await ch.command({ query: `SYSTEM SYNC REPLICA ${t}` });
    } finally {
      await ch.close();
    }
  }
  const byShard = await fingerprints(env);
  return [...byShard.values()].filter((f) => new Set(f).size > 1).length;
}

async function finish(
  run: Run,
  scenario: string,
  faults: string,
  measured: Measured,
  extra: Partial<ClusterResult> = {},
): Promise<ClusterResult> {
  await run.fed;
  await runToCompletion(run.clean, run.requests.length);
  const cmp = await compare(run);
  return {
    scenario,
    faults,
    clean: run.clean,
    recordsIn: run.recordsIn,
    ...measured,
    divergentShards: await divergentShards(run.faulty),
    ...cmp,
    ...extra,
  };
}

const metrics = (p: JoinerProcess) =>
  fetch(`http://127.0.0.1:${p.port}/metrics`)
    .then((r) => r.text())
    .catch(() => '');

/** Every logged joiner this module started that is still running. */
const logged = new Set<JoinerProcess>();

/**
 * A faulty-run joiner like scenario.ts's, with its whole log (info level) kept in
 * test-artifacts/cluster-<name>-joiner.log: after a fault, what the joiner saw is the evidence.
 */
async function startLoggedJoiner(env: Env, name: string): Promise<JoinerProcess> {
  const port = await freePort();
  mkdirSync(ROOT + 'test-artifacts', { recursive: true });
  const fd = openSync(`${ROOT}test-artifacts/cluster-${name}-joiner.log`, 'w');
  const child = spawn(process.execPath, [ROOT + 'bin/joulestream.js', 'joiner'], {
    cwd: ROOT,
    env: { ...process.env, ...env, LOG_LEVEL: 'info', JOULESTREAM_HTTP_PORT: String(port) },
    stdio: ['ignore', fd, fd],
  });
  const p: JoinerProcess = { child, port, exited: new Promise<void>((r) => child.once('exit', () => r())) };
  logged.add(p);
  void p.exited.then(() => logged.delete(p));
  return p;
}

async function killLogged(): Promise<void> {
  await Promise.all([...logged].map((p) => kill(p)));
}

const insertErrors = async (p: JoinerProcess) =>
  Number(/^joulestream_joiner_insert_errors_total (\S+)$/m.exec(await metrics(p))?.[1] ?? 0);

/** Samples the joiner's consumed-record counter every 200 ms; stop() gives the longest still spell. */
function stallMeter(p: JoinerProcess, fedDone: () => boolean): { stop: () => Promise<number> } {
  let running = true;
  let longest = 0;
  const loop = (async () => {
    let last = -1;
    let since = Date.now();
    while (running) {
      const text = await metrics(p);
      const consumed = [...text.matchAll(/^joulestream_joiner_records_total\{[^}]*\} (\S+)$/gm)].reduce(
        (a, m) => a + Number(m[1]),
        0,
      );
      const now = Date.now();
      if (consumed !== last) {
        last = consumed;
        since = now;
      } else if (!fedDone()) longest = Math.max(longest, now - since);
      await sleep(200);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return longest;
    },
  };
}

/**
 * One process stopped at 40% of the feed for `downMs`, then started again; recovery is measured from
 * its restart until the faulty joiner has caught up.
 */
async function outage(
  base: Env,
  name: string,
  control: ServerControl,
  downMs: number,
  /** Called before the stop, before the restart and once it answers (the replica scenario's checks). */
  around: {
    beforeStop?: (run: Run) => Promise<void>;
    beforeRestart?: (run: Run) => Promise<void>;
    afterRestart?: (run: Run, restartedAt: number) => void;
  } = {},
): Promise<{ run: Run; restartedAt: number } & Measured> {
  const run = await startRun(base, FEED);
  const p = await startLoggedJoiner(run.faulty, name);
  await run.progress(0.4);
  const meter = stallMeter(p, run.fedDone);
  await around.beforeStop?.(run);
  await control.stop();
  let insertFailures = 0;
  let restartedAt = 0;
  let restartMs = 0;
  try {
    await sleep(downMs);
    insertFailures = await insertErrors(p);
    await around.beforeRestart?.(run);
  } finally {
    restartedAt = Date.now();
    await control.start();
    restartMs = Date.now() - restartedAt;
  }
  around.afterRestart?.(run, restartedAt);
  await timeToCatchUp(p, 180_000, run.fedDone);
  const recoveryMs = Date.now() - restartedAt;
  const stallMs = await meter.stop();
  await run.fed;
  const joinerRestarts = await completeWithWatchdog(run.faulty, run.requests.length, p, name);
  return { run, recoveryMs, insertFailures, restartedAt, restartMs, stallMs, joinerRestarts };
}

/**
 * Runs the faulty joiner until every request row is in and the rows stop changing. A joiner that
 * makes no progress for 45 s while rows are missing is restarted, as a liveness probe would do: after
 * a broker stop the joiner sometimes stops reading with nothing logged (docs/operations.md). The
 * restart resumes from committed offsets; the rows must still equal the clean run's. Restarts are
 * counted and reported.
 */
async function completeWithWatchdog(
  env: Env,
  requests: number,
  first: JoinerProcess,
  name: string,
): Promise<number> {
  let proc = first;
  let restarts = 0;
  let last = '';
  let since = Date.now();
  const deadline = Date.now() + 300_000;
  for (;;) {
    const [r] = await query(
      env,
      'SELECT (SELECT count() FROM request_energy FINAL) AS r, (SELECT count() FROM host_ledger FINAL) AS l',
    );
    const now = Date.now();
    const seen = `${String(r!.r)}/${String(r!.l)}`;
    if (seen !== last) {
      last = seen;
      since = now;
    }
    if (Number(r!.r) >= requests && now - since > 3000) break;
    if (now - since > 45_000) {
      await kill(proc, 'SIGTERM');
      restarts++;
      proc = await startLoggedJoiner(env, `${name}-restart${restarts}`);
      since = Date.now();
    }
    if (now > deadline) throw new Error(`rows incomplete after 300 s: ${seen}, ${restarts} joiner restarts`);
    await sleep(500);
  }
  await kill(proc, 'SIGTERM');
  return restarts;
}

type Measured = Pick<
  ClusterResult,
  'recoveryMs' | 'insertFailures' | 'restartMs' | 'stallMs' | 'joinerRestarts'
>;

export async function brokerScenario(base: Env, broker: ServerControl): Promise<ClusterResult> {
  try {
    // In 1 of 21 runs with the default 30 s idle timeout, the faulty joiner flagged hosts' power
    // `power-idle` while their requests kept coming: it had no power records from one partition
    // for over 30 s after the partition's leader moved (kafkajs learns a new leader from metadata,
    // refreshed at the latest every metadataMaxAge, 5 min), so windows closed as estimated and
    // 326 rows differed from the clean run. A host's stream is silent only if its collector is, so
    // the idle timeout here is set above that bound; docs/operations.md has the finding.
    const env = { ...base, JOULESTREAM_IDLE_TIMEOUT_MS: '300000' };
    const { run, restartedAt: _, ...measured } = await outage(env, 'broker', broker, 10_000);
    return await finish(run, 'cluster-broker', '1 of 3 brokers stopped 10 s, restarted', measured);
  } finally {
    await killLogged();
    await killAll();
  }
}

/** Local rows on one node (request and ledger tables together, before deduplication). */
export async function localRows(env: Env, url: string): Promise<number> {
  const cfg = loadConfig(env).clickhouse;
  const ch = createClickHouse({ url }, cfg.admin!, cfg.database);
  try {
    const rows = await (
      await ch.query({
        query:
          'SELECT (SELECT count() FROM request_energy_local) + (SELECT count() FROM host_ledger_local) AS n',
        format: 'JSONEachRow',
      })
    ).json<{ n: string }>();
    return Number(rows[0]!.n);
  } finally {
    await ch.close();
  }
}

/**
 * Node `stopped` (1-4) down for 10 s; `peer` is the other replica of its shard, whose rows grow
 * meanwhile: the restarted replica must fetch them.
 */
export async function replicaScenario(
  base: Env,
  replica: ServerControl,
  stopped: number,
  peer: number,
): Promise<ClusterResult> {
  try {
    const url = (n: number) => loadConfig(base).clickhouse.cluster!.nodeUrls[n - 1]!;
    let before = 0;
    let missedRows = 0;
    let synced: Promise<number> = Promise.resolve(-1);
    const {
      run,
      restartedAt: _,
      ...measured
    } = await outage(base, 'replica', replica, 10_000, {
      beforeStop: async (r) => void (before = await localRows(r.faulty, url(peer))),
      beforeRestart: async (r) => void (missedRows = (await localRows(r.faulty, url(peer))) - before),
      // As soon as it answers: how long until it has fetched what it missed (its queue is empty).
      afterRestart: (r, t0) => {
        synced = syncReplica(r.faulty, url(stopped)).then(() => Date.now() - t0);
      },
    });
    const convergeMs = await synced;
    return await finish(
      run,
      'cluster-replica',
      `ClickHouse node ${stopped} (a replica of shard 2) stopped 10 s, restarted`,
      measured,
      { convergeMs, missedRows },
    );
  } finally {
    await killLogged();
    await killAll();
  }
}

export async function zookeeperScenario(base: Env, zookeeper: ServerControl): Promise<ClusterResult> {
  try {
    const { run, restartedAt: _, ...measured } = await outage(base, 'zookeeper', zookeeper, 10_000);
    return await finish(run, 'cluster-zookeeper', 'ZooKeeper stopped 10 s, restarted', measured);
  } finally {
    await killLogged();
    await killAll();
  }
}

const cli = async (env: Env, args: string[]) =>
  (
    await exec(process.execPath, [ROOT + 'bin/joulestream.js', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      maxBuffer: 64 * 1024 * 1024,
    })
  ).stdout;

export const REPORT_VIEWS = [
  'per-query',
  'per-1k-tokens',
  'tenant-statement',
  'facility-kpis',
  'ledger',
  'sci',
];

/**
 * The same input through one server (`single`) and through the cluster (`clustered`, whose joiner
 * has already run to completion): the joiner over the same topics into the single server, the
 * rollups backfilled on each, then every report view as JSON.
 * Returns the views whose rows differ beyond floating-point summation order (1e-9 relative).
 */
export async function sameReport(
  clustered: Env,
  single: Env,
  requests: number,
  fromIso: string,
  toIso: string,
): Promise<{ view: string; rows: number; diff: string | null }[]> {
  try {
    await runToCompletion(single, requests);
  } finally {
    await killLogged();
    await killAll();
  }
  for (const env of [clustered, single]) await cli(env, ['backfill', '--from', fromIso, '--to', toIso]);
  const out = [];
  for (const view of REPORT_VIEWS) {
    const args = ['report', '--view', view, '--format', 'json', '--from', fromIso, '--to', toIso];
    const [a, b] = await Promise.all([cli(clustered, args), cli(single, args)]);
    const ra = JSON.parse(a) as unknown[];
    out.push({ view, rows: ra.length, diff: differs(ra, JSON.parse(b) as unknown[]) });
  }
  return out;
}

/** The first difference between two JSON values, numbers compared to 1e-9 relative; null if none. */
export function differs(a: unknown, b: unknown, path = '$'): string | null {
  if (typeof a === 'number' && typeof b === 'number')
    return Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b), 1e-12)
      ? null
      : `${path}: ${a} != ${b}`;
  if (typeof a === 'string' && typeof b === 'string' && /^-?\d+(\.\d+)?(e-?\d+)?$/i.test(a))
    return differs(Number(a), Number(b), path);
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return `${path}: ${a.length} rows != ${b.length}`;
    for (let i = 0; i < a.length; i++) {
      const d = differs(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a).sort();
    if (ka.join() !== Object.keys(b).sort().join()) return `${path}: keys differ`;
    for (const k of ka) {
      const d = differs((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
      if (d) return d;
    }
    return null;
  }
  return a === b ? null : `${path}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`;
}

export { query };
