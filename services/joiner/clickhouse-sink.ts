// The ClickHouse sink: rows wait in a backlog until ClickHouse takes them; a retriable failure
// pauses consumption (memory stays bounded by what is already held) and the next try waits for a
// backoff with jitter; rows ClickHouse rejects as data go to the dead letters with its error.

import { ledgerRowToDb, requestRowToDb } from '../adapters/clickhouse.ts';
import { backoffMs, type Batch, type RowWriter } from '../adapters/row-writer.ts';
import type { Logger } from '../adapters/logger.ts';
import type { Emissions } from '../core/engine/emissions.ts';
import type { Clock } from './clock.ts';
import type { JoinerMetrics } from './metrics.ts';

export const backlogRows = (b: readonly Batch[]): number => b.reduce((n, x) => n + x.rows.length, 0);

export interface SinkPorts {
  writer: RowWriter;
  clock: Clock;
  log: Logger;
  metrics: JoinerMetrics;
  /** Consumption pauses while rows wait after a failure, and resumes once they are written. */
  setPaused(on: boolean): void;
  rejected(table: string, error: string, row: Record<string, unknown>): void;
}

export class ClickHouseSink {
  private backlog: Batch[] = [];
  private retryAttempt = 0;
  private retryAtMs = 0;
  lastError: string | null = null;

  constructor(private readonly ports: SinkPorts) {}

  push(out: Emissions): void {
    const { writer } = this.ports;
    this.backlog.push(
      ...writer.batches('request_energy', out.requests.map(requestRowToDb)),
      ...writer.batches('host_ledger', out.ledger.map(ledgerRowToDb)),
    );
  }

  rows(): number {
    return backlogRows(this.backlog);
  }

  /** When the next try may run (clock ms). */
  nextTryMs(): number {
    return this.retryAtMs;
  }

  /** Writes the backlog. True when it is empty afterwards. */
  async write(): Promise<boolean> {
    if (this.backlog.length === 0) return true;
    const { clock, metrics: m, log } = this.ports;
    if (this.retryAttempt > 0 && clock.nowMs() < this.retryAtMs) return false;
    const batches = this.backlog;
    this.backlog = [];
    const t0 = clock.nowMs();
    const res = await this.ports.writer.writeOnce(batches);
    const ackMs = clock.nowMs();
    m.insertMs.set(ackMs - t0);
    m.insertS.observe((ackMs - t0) / 1000);
    for (const b of batches) {
      const n = res.retry.includes(b) ? 0 : b.rows.length;
      (b.table === 'request_energy' ? m.requestRows : m.ledgerRows).inc({}, n);
      // Request end (event time) to the insert's acknowledgement: the pipeline's end-to-end latency.
      if (n > 0 && b.table === 'request_energy')
        for (const row of b.rows) m.rowLatencyS.observe((ackMs - (row.t_end_ms as number)) / 1000);
    }
    for (const r of res.rejected)
      this.ports.rejected(r.table, `ClickHouse refused a ${r.table} row (code ${r.code}): ${r.error}`, r.row);
    if (res.rejected.length > 0)
      log.error({ rows: res.rejected.length }, 'ClickHouse rejected rows; dead-lettered them');
    this.backlog = res.retry;
    m.backlogRows.set(backlogRows(this.backlog));
    if (res.retry.length > 0) {
      m.insertErrors.inc();
      const delay = backoffMs(this.retryAttempt++);
      this.retryAtMs = clock.nowMs() + delay;
      this.lastError = `ClickHouse insert failed: ${(res.error as Error)?.message ?? String(res.error)}`;
      log.warn(
        {
          rows: backlogRows(this.backlog),
          attempt: this.retryAttempt,
          delayMs: Math.round(delay),
          err: this.lastError,
        },
        'ClickHouse insert failed; consumption paused, retrying',
      );
      this.ports.setPaused(true);
      return false;
    }
    if (this.retryAttempt > 0)
      log.info({ attempts: this.retryAttempt }, 'ClickHouse took the backlog; resuming');
    this.retryAttempt = 0;
    this.lastError = null;
    this.ports.setPaused(false);
    return true;
  }
}
