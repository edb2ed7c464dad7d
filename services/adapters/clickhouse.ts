// ClickHouse at the edge: clients per role (admin for migrations, writer for inserts, reader for
// queries), the migration runner, and the row mapping for the two output tables.

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ClickHouseLogLevel, createClient, type ClickHouseClient } from '@clickhouse/client';
import type { ClickHouseConfig, Credentials } from '../config/config.ts';
import type { LedgerRow, RequestRow } from '../core/host-joiner.ts';
import { JoulestreamError } from '../config/errors.ts';
import { migrateCluster } from './cluster-migrate.ts';
import { ident, quote } from './sql.ts';

const MIGRATIONS_DIR = fileURLToPath(new URL('../../schemas/clickhouse/', import.meta.url));

/**
 * 18.16 needs allow_experimental_low_cardinality_type=1 to create LowCardinality columns; current
 * servers reject the setting as unknown (checked on 26.9 via chDB), so it is sent to old servers only.
 */
export function compatSettings(version: string): Record<string, number> {
  const major = Number(version.split('.')[0]);
  return Number.isFinite(major) && major < 19 ? { allow_experimental_low_cardinality_type: 1 } : {};
}

export async function serverVersion(ch: ClickHouseClient): Promise<string> {
  const rows = await (
    await ch.query({ query: 'SELECT version() AS v', format: 'JSONEachRow' })
  ).json<{ v: string }>();
  return rows[0]?.v ?? '0';
}

export function createClickHouse(
  cfg: Pick<ClickHouseConfig, 'url'>,
  who: Credentials,
  database?: string,
): ClickHouseClient {
  return createClient({
    url: cfg.url,
    username: who.user,
    password: who.password,
    ...(database ? { database } : {}),
    request_timeout: 60_000,
    compression: { request: false, response: false },
    application: 'joulestream',
    // Errors reach the caller as exceptions and are logged there, structured; no console output.
    log: { level: ClickHouseLogLevel.OFF },
  });
}

export class ClickHouseError extends JoulestreamError {}

/** Applied migrations; on a cluster each node keeps its own (the runner writes all of them). */
export const SCHEMA_MIGRATIONS =
  'CREATE TABLE IF NOT EXISTS schema_migrations (name String, checksum String, applied_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY name';

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

export function listMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((name) => {
      const sql = readFileSync(dir + name, 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

/** Splits a migration file into statements (no statement of ours contains a semicolon in a literal). */
export function statements(sql: string): string[] {
  return statementsWithComments(sql).map((s) => s.sql);
}

/** Each statement with and without its comment lines (the cluster rewrite reads annotations). */
export function statementsWithComments(sql: string): { sql: string; raw: string }[] {
  return sql
    .split(/;\s*(?:\n|$)/)
    .map((raw) => ({
      raw,
      sql: raw
        .split('\n')
        .filter((l) => !l.trim().startsWith('--'))
        .join('\n')
        .trim(),
    }))
    .filter((s) => s.sql.length > 0);
}

/**
 * Creates the database and applies pending migrations in order, recording each with its checksum.
 * Safe to run twice; refuses to continue if an applied migration's file was edited afterwards.
 */
export async function migrate(
  cfg: ClickHouseConfig,
  log?: { info: (o: object, m: string) => void },
): Promise<string[]> {
  if (!cfg.admin) {
    throw new ClickHouseError(
      'migrations need an admin user: set CLICKHOUSE_ADMIN_USER and CLICKHOUSE_ADMIN_PASSWORD(_FILE)',
    );
  }
  if (cfg.cluster) return migrateCluster(cfg, cfg.admin, cfg.cluster, log);
  const db = ident(cfg.database);
  const root = createClickHouse(cfg, cfg.admin);
  try {
    await root.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
  } finally {
    await root.close();
  }
  const ch = createClickHouse(cfg, cfg.admin, db);
  const applied: string[] = [];
  try {
    const settings = compatSettings(await serverVersion(ch));
    await ch.command({ query: SCHEMA_MIGRATIONS });
    const done = new Map(
      (
        await (
          await ch.query({ query: 'SELECT name, checksum FROM schema_migrations', format: 'JSONEachRow' })
        ).json<{
          name: string;
          checksum: string;
        }>()
      ).map((r) => [r.name, r.checksum]),
    );
    for (const m of listMigrations()) {
      const prior = done.get(m.name);
      if (prior !== undefined) {
        if (prior !== m.checksum) {
          throw new ClickHouseError(
            `migration ${m.name} was edited after it was applied to ${db}; add a new migration instead of changing it`,
          );
        }
        continue;
      }
      for (const stmt of statements(m.sql)) {
        await ch.command({ query: stmt, clickhouse_settings: settings });
      }
      await ch.command({
        query: `INSERT INTO schema_migrations (name, checksum) VALUES (${quote(m.name)}, ${quote(m.checksum)})`,
      });
      applied.push(m.name);
      log?.info({ migration: m.name, database: db }, 'applied migration');
    }
  } finally {
    await ch.close();
  }
  return applied;
}

export const requestRowToDb = (r: RequestRow): Record<string, unknown> => ({
  request_id: r.requestId,
  host: r.host,
  facility: r.facility,
  region: r.region,
  zone: r.zone,
  model: r.model,
  tenant: r.tenant,
  status: r.status,
  gpus: r.gpus,
  t_start_ms: r.tStartMs,
  t_end_ms: r.tEndMs,
  prompt_tokens: r.promptTokens,
  completion_tokens: r.completionTokens,
  trace_id: r.traceId ?? '',
  conversation_id: r.conversationId ?? '',
  agent_name: r.agentName ?? '',
  accelerator_dynamic_j: r.acceleratorDynamicJ,
  accelerator_idle_j: r.acceleratorIdleJ,
  host_dynamic_j: r.hostDynamicJ,
  host_idle_j: r.hostIdleJ,
  it_j: r.itJ,
  overhead_j: r.overheadJ,
  facility_j: r.facilityJ,
  estimated_j: r.estimatedJ,
  embodied_g: r.embodiedG,
  co2e_location_g: r.co2eLocationG,
  co2e_market_g: r.co2eMarketG,
  water_l: r.waterL,
  ci_source: r.ciSource,
  share_model: r.shareModel,
  kappa: r.kappa,
  accelerator_dynamic_lo_j: r.acceleratorDynamicLoJ,
  accelerator_dynamic_hi_j: r.acceleratorDynamicHiJ,
  facility_lo_j: r.facilityLoJ,
  facility_hi_j: r.facilityHiJ,
  co2e_location_lo_g: r.co2eLocationLoG,
  co2e_location_hi_g: r.co2eLocationHiG,
  flags: r.flags,
  version: r.version,
  method_version: r.methodVersion,
});

export const ledgerRowToDb = (r: LedgerRow): Record<string, unknown> => ({
  host: r.host,
  facility: r.facility,
  device_group: r.group,
  window_start_ms: r.windowStartMs,
  window_ms: r.windowMs,
  measured_j: r.measuredJ,
  idle_j: r.idleJ,
  dynamic_j: r.dynamicJ,
  attributed_j: r.attributedJ,
  unattributed_j: r.unattributedJ,
  estimated_j: r.estimatedJ,
  node_deficit_j: r.nodeDeficitJ,
  active_requests: r.activeRequests,
  flags: r.flags,
  version: r.version,
  method_version: r.methodVersion,
});

export async function insertRows(
  ch: ClickHouseClient,
  table: string,
  rows: readonly Record<string, unknown>[],
): Promise<void> {
  if (rows.length === 0) return;
  // JSONEachRow explicitly: the client's default (JSONCompactEachRow...) does not exist on 18.16.
  await ch.insert({ table: ident(table), values: rows as Record<string, unknown>[], format: 'JSONEachRow' });
}
