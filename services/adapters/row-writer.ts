// Writes rows to ClickHouse in bounded batches with bounded concurrency, and sorts failures into the
// two kinds that need opposite handling: the server or the network is unwell (retry the same rows
// later, unchanged), or the rows themselves are unacceptable (split the batch until the bad row is
// found, hand it to the caller for the dead-letter topic, and write the rest).

import pLimit from 'p-limit';

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

/**
 * Server error codes that blame the data sent, not the server's state: parse and conversion errors
 * (18.16 and current servers alike). Anything else, including errors with no code (connection refused,
 * timeouts) and codes such as TOO_MANY_PARTS or MEMORY_LIMIT_EXCEEDED, is worth retrying unchanged.
 * Authentication and missing-table errors are deliberately not here: splitting would dead-letter every
 * row for a fault that a retry after the operator's fix would cure.
 */
const DATA_ERROR_CODES = new Set([
  6, // CANNOT_PARSE_TEXT
  26, // CANNOT_PARSE_QUOTED_STRING
  27, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
  32, // ATTEMPT_TO_READ_AFTER_EOF
  38, // CANNOT_PARSE_DATE
  41, // CANNOT_PARSE_DATETIME
  53, // TYPE_MISMATCH
  69, // ARGUMENT_OUT_OF_BOUND
  70, // CANNOT_CONVERT_TYPE
  72, // CANNOT_PARSE_NUMBER
  117, // INCORRECT_DATA (also: unknown field in JSONEachRow)
  131, // TOO_LARGE_STRING_SIZE
  321, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
]);

/** The server error code in a ClickHouse error, from the client's field or the message text. */
export function errorCode(err: unknown): number | null {
  const e = err as { code?: unknown; message?: unknown };
  if (typeof e?.code === 'string' && /^\d+$/.test(e.code)) return Number(e.code);
  const m = typeof e?.message === 'string' ? /\bCode: (\d+)/.exec(e.message) : null;
  return m ? Number(m[1]) : null;
}

export function isDataError(err: unknown): boolean {
  const code = errorCode(err);
  return code !== null && DATA_ERROR_CODES.has(code);
}

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
      if (!isDataError(err)) {
        result.retry.push(b);
        result.error = err;
        return;
      }
      if (b.rows.length === 1) {
        result.rejected.push({
          table: b.table,
          row: b.rows[0]!,
          error: (err as Error).message,
          code: errorCode(err)!,
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
