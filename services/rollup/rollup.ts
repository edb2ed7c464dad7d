// The rollup: recomputes hourly and daily aggregates from the deduplicated rows, writes the
// facilities as configured, and drops partitions past retention. Scheduled as a service
// (`joulestream rollup`), or run once over any range (`joulestream backfill`).

import type { ClickHouseClient } from '@clickhouse/client';
import { ident, quote } from '../adapters/sql.ts';
import type { Logger } from '../adapters/logger.ts';
import type { Registry } from '../adapters/metrics.ts';
import type { Fleet } from '../core/fleet.ts';
import { JoulestreamError } from '../config/errors.ts';
import { GRAIN_MS, alignRange, rollupInsert, type Grain } from './queries.ts';

export interface RollupSettings {
  /** How far back each scheduled run recomputes, so late corrections flow in. */
  trailingMs: number;
  /** Drop raw rows (request_energy, host_ledger) older than this; 0 keeps them. */
  retainRawDays: number;
  /** Drop hourly rollups older than this; 0 keeps them. Daily rollups are kept. */
  retainHourlyDays: number;
}

export interface RollupDeps {
  writer: ClickHouseClient;
  /** Only needed for retention: dropping partitions is DDL, which the writer may not do. */
  admin: ClickHouseClient | null;
  database: string;
  fleet: Fleet;
  log: Logger;
  metrics: Registry;
  settings: RollupSettings;
  clock?: () => number;
}

export class Rollup {
  private readonly now: () => number;
  private readonly m;

  constructor(private readonly deps: RollupDeps) {
    this.now = deps.clock ?? Date.now;
    const r = deps.metrics;
    this.m = {
      runs: r.counter('joulestream_rollup_runs_total', 'Rollup runs, by outcome'),
      periods: r.counter('joulestream_rollup_periods_total', 'Periods recomputed, by grain'),
      lastSuccess: r.gauge('joulestream_rollup_last_success_time_ms', 'Wall time of the last successful run'),
      durationMs: r.gauge('joulestream_rollup_last_duration_ms', 'Duration of the last run'),
      dropped: r.counter(
        'joulestream_rollup_dropped_partitions_total',
        'Partitions dropped by retention, by table',
      ),
    };
  }

  /**
   * Recomputes both grains over [fromMs, toMs), widened to whole periods, one day per statement so
   * a long backfill never asks ClickHouse for all history at once.
   */
  async recompute(fromMs: number, toMs: number): Promise<{ hours: number; days: number }> {
    if (!(toMs > fromMs)) throw new JoulestreamError('the rollup range is empty: --to must be after --from');
    const version = this.now();
    await this.writeFacilities(version);
    await this.writeHosts(version);
    const out = { hours: 0, days: 0 };
    for (const grain of ['hour', 'day'] as Grain[]) {
      const r = alignRange(grain, fromMs, toMs);
      const step = GRAIN_MS.day;
      for (let t = r.fromMs; t < r.toMs; t += step) {
        const end = Math.min(t + step, r.toMs);
        await this.deps.writer.command({ query: rollupInsert(grain, t, end, version) });
        const n = (end - t) / GRAIN_MS[grain];
        if (grain === 'hour') out.hours += n;
        else out.days += n;
        this.m.periods.inc({ grain }, n);
      }
    }
    return out;
  }

  /** One scheduled run: the trailing window, then retention. */
  async runOnce(): Promise<void> {
    const t0 = this.now();
    try {
      const r = await this.recompute(t0 - this.deps.settings.trailingMs, t0);
      await this.retention(t0);
      this.m.runs.inc({ outcome: 'ok' });
      this.m.lastSuccess.set(this.now());
      this.deps.log.info({ ...r, ms: this.now() - t0 }, 'rollup run');
    } catch (err) {
      this.m.runs.inc({ outcome: 'error' });
      throw err;
    } finally {
      this.m.durationMs.set(this.now() - t0);
    }
  }

  private async writeFacilities(version: number): Promise<void> {
    const rows = [...this.deps.fleet.facilities.values()].map((f) => ({
      facility: f.id,
      region: f.region,
      zone: f.zone,
      // A PUE series reports its latest value; requests carry the PUE in force at their time.
      pue: f.pueSeries ? f.pueSeries.value[f.pueSeries.value.length - 1]! : f.pue,
      renewable_share: f.renewableShare,
      wue_l_per_kwh: f.wueLPerKWh,
      version,
    }));
    if (rows.length > 0)
      await this.deps.writer.insert({ table: 'facility_info', values: rows, format: 'JSONEachRow' });
  }

  /** The hosts as configured, so the hardware views can name each host's accelerator. */
  private async writeHosts(version: number): Promise<void> {
    const rows = [...this.deps.fleet.hosts.values()].map((h) => ({
      host: h.id,
      facility: h.facility,
      accelerator: h.models.accelerator ?? '',
      gpu_count: h.gpuCount,
      version,
    }));
    if (rows.length > 0)
      await this.deps.writer.insert({ table: 'host_info', values: rows, format: 'JSONEachRow' });
  }

  /** Drops whole monthly partitions that end before the retention cutoffs. */
  async retention(nowMs: number): Promise<string[]> {
    const { retainRawDays, retainHourlyDays } = this.deps.settings;
    if (retainRawDays === 0 && retainHourlyDays === 0) return [];
    if (!this.deps.admin)
      throw new JoulestreamError(
        'retention drops partitions, which needs the admin user: set CLICKHOUSE_ADMIN_USER and CLICKHOUSE_ADMIN_PASSWORD(_FILE), or set the retention to 0',
      );
    const jobs: { table: string; days: number; grain?: Grain }[] = [];
    if (retainRawDays > 0)
      jobs.push(
        { table: 'request_energy', days: retainRawDays },
        { table: 'host_ledger', days: retainRawDays },
      );
    if (retainHourlyDays > 0) jobs.push({ table: 'rollup', days: retainHourlyDays, grain: 'hour' });
    const dropped: string[] = [];
    for (const job of jobs) {
      const cutoffMonth = yyyymm(nowMs - job.days * 86_400_000);
      const parts = await (
        await this.deps.admin.query({
          query: `SELECT DISTINCT partition FROM system.parts WHERE active AND database = ${quote(this.deps.database)} AND table = ${quote(job.table)}`,
          format: 'JSONEachRow',
        })
      ).json<{ partition: string }>();
      for (const { partition } of parts) {
        const p = parsePartition(partition);
        if (!p) {
          this.deps.log.warn(
            { table: job.table, partition },
            'retention skips a partition it does not recognise',
          );
          continue;
        }
        // Strictly older months only: the cutoff's own month still holds rows inside retention.
        if (p.month >= cutoffMonth || (job.grain !== undefined && p.grain !== job.grain)) continue;
        await this.deps.admin.command({
          query: `ALTER TABLE ${ident(this.deps.database)}.${ident(job.table)} DROP PARTITION ${p.literal}`,
        });
        this.m.dropped.inc({ table: job.table });
        dropped.push(`${job.table} ${p.literal}`);
        this.deps.log.info({ table: job.table, partition: p.literal }, 'dropped partition past retention');
      }
    }
    return dropped;
  }
}

export function yyyymm(ms: number): number {
  const d = new Date(ms);
  return d.getUTCFullYear() * 100 + d.getUTCMonth() + 1;
}

/**
 * A partition id as system.parts shows it: `202611` for the raw tables, `('hour',202611)` for the
 * rollup. Anything else is refused, so only a literal of these two shapes ever reaches SQL.
 */
export function parsePartition(text: string): { month: number; grain?: string; literal: string } | null {
  const plain = /^(\d{6})$/.exec(text);
  if (plain) return { month: Number(plain[1]), literal: plain[1]! };
  const tuple = /^\('(hour|day)',\s*(\d{6})\)$/.exec(text);
  if (tuple) return { month: Number(tuple[2]), grain: tuple[1]!, literal: `('${tuple[1]!}', ${tuple[2]!})` };
  return null;
}
