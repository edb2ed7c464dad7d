// Writes rows to ClickHouse in bounded batches with bounded concurrency, and sorts failures into the
// two kinds that need opposite handling: the server or the network is unwell (retry the same rows
// later, unchanged), or the rows themselves are unacceptable (split the batch until the bad row is
// found, hand it to the caller for the dead-letter topic, and write the rest).

import pLimit from 'p-limit';
import { fromClickHouse } from './client-errors.ts';

export interface Batch {
  table: string;
  rows: Record<string, unknown>[];
}

export interface RejectedRow {
  table: string;
  row: Record<string, unknown>;
  /** ClickHouse's own error text. */
  error: string;
  code: number;
}

export type Insert = (table: string, rows: Record<string, unknown>[]) => Promise<void>;

export { errorCode, isDataError } from './client-errors.ts';

export interface WriteResult {
  /** Batches that failed for a retriable reason; the caller retries them, unchanged, later. */
  retry: Batch[];
  written: number;
  rejected: RejectedRow[];
  /** The last retriable error, for logs and readiness. */
  error: unknown;
}

export class RowWriter {
  private readonly limit;

  constructor(
    private readonly insert: Insert,
    private readonly maxRows: number,
    concurrency: number,
  ) {
    this.limit = pLimit(concurrency);
  }

  /** Cuts row lists into batches of at most maxRows. */
  batches(table: string, rows: Record<string, unknown>[]): Batch[] {
    const out: Batch[] = [];
    for (let i = 0; i < rows.length; i += this.maxRows)
      out.push({ table, rows: rows.slice(i, i + this.maxRows) });
    return out;
  }

  /** One attempt per batch, concurrently up to the limit. Never throws. */
  async writeOnce(batches: Batch[]): Promise<WriteResult> {
    const result: WriteResult = { retry: [], written: 0, rejected: [], error: null };
    await Promise.all(batches.map((b) => this.limit(() => this.attempt(b, result))));
    return result;
  }

  private async attempt(b: Batch, result: WriteResult): Promise<void> {
    try {
      await this.insert(b.table, b.rows);
      result.written += b.rows.length;
      return;
    } catch (err) {
      const e = fromClickHouse(err, `insert of ${b.rows.length} ${b.table} rows`);
      if (e.retriable) {
        result.retry.push(b);
        result.error = e;
        return;
      }
      if (b.rows.length === 1) {
        result.rejected.push({
          table: b.table,
          row: b.rows[0]!,
          error: e.serverMessage,
          code: e.code!,
        });
        return;
      }
      // Halving finds k bad rows among n in O(k log n) inserts; the good halves land on the way.
      const mid = b.rows.length >> 1;
      await this.attempt({ table: b.table, rows: b.rows.slice(0, mid) }, result);
      await this.attempt({ table: b.table, rows: b.rows.slice(mid) }, result);
    }
  }
}

/**
 * Exponential backoff with jitter: 200 ms doubling to a 10 s cap, each delay drawn from [50 %, 100 %]
 * of its step. The cap bounds how long the joiner stays idle after ClickHouse is back.
 */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  return Math.min(10_000, 200 * 2 ** Math.min(attempt, 8)) * (0.5 + random() / 2);
}
