// The sink and the commit point with in-process ports: a fake insert and a clock the test drives.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../adapters/logger.ts';
import { Registry } from '../adapters/metrics.ts';
import { RowWriter } from '../adapters/row-writer.ts';
import { emptyEmissions, type LedgerRow } from '../core/engine/emissions.ts';
import { ClickHouseSink } from './clickhouse-sink.ts';
import type { Clock } from './clock.ts';
import { joinerMetrics } from './metrics.ts';
import { Partitions } from './partitions.ts';

const ledgerRow = (w: number, measuredJ = 10): LedgerRow =>
  ({
    group: 'accelerator',
    measuredJ,
    attributedJ: measuredJ,
    unattributedJ: 0,
    idleJ: 0,
    estimatedJ: 0,
    host: 'h',
    facility: 'f',
    windowStartMs: w,
    windowMs: 1000,
    activeRequests: 1,
    flags: [],
    version: 1,
    methodVersion: 'jsm-1.0',
  }) as unknown as LedgerRow;

function fakeClock(): Clock & { t: number } {
  return {
    t: 1_000_000,
    nowMs() {
      return this.t;
    },
    sleep: () => Promise.resolve(),
    every: () => () => undefined,
  };
}

test('sink: a retriable failure pauses and waits for the backoff; rows are written unchanged after', async () => {
  const clock = fakeClock();
  const inserted: number[] = [];
  let failing = true;
  const writer = new RowWriter(
    (_table, rows) => {
      if (failing) return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:21123'));
      inserted.push(rows.length);
      return Promise.resolve();
    },
    100,
    1,
  );
  const paused: boolean[] = [];
  const rejected: string[] = [];
  const sink = new ClickHouseSink({
    writer,
    clock,
    log: createLogger('test', 'silent'),
    metrics: joinerMetrics(new Registry()),
    setPaused: (on) => paused.push(on),
    rejected: (_t, error) => rejected.push(error),
  });
  const out = emptyEmissions();
  out.ledger.push(ledgerRow(0), ledgerRow(1000));
  sink.push(out);
  assert.equal(await sink.write(), false);
  assert.deepEqual(paused, [true]);
  assert.equal(sink.rows(), 2);
  assert.match(sink.lastError ?? '', /ECONNREFUSED/);
  failing = false;
  // Before the backoff has passed nothing is tried.
  assert.equal(await sink.write(), false);
  assert.deepEqual(inserted, []);
  clock.t = sink.nextTryMs();
  assert.equal(await sink.write(), true);
  assert.deepEqual(inserted, [2]);
  assert.deepEqual(paused, [true, false]);
  assert.equal(sink.lastError, null);
  assert.deepEqual(rejected, []);
});

test('sink: rows the server blames are dead-lettered with its error, the rest written', async () => {
  const written: unknown[] = [];
  const writer = new RowWriter(
    (_table, rows) => {
      if (rows.some((r) => r.measured_j === -1 || r.measuredJ === -1))
        return Promise.reject(new Error('Code: 53, e.displayText() = DB::Exception: Type mismatch'));
      written.push(...rows);
      return Promise.resolve();
    },
    100,
    1,
  );
  const rejected: string[] = [];
  const sink = new ClickHouseSink({
    writer,
    clock: fakeClock(),
    log: createLogger('test', 'silent'),
    metrics: joinerMetrics(new Registry()),
    setPaused: () => undefined,
    rejected: (_t, error) => rejected.push(error),
  });
  const out = emptyEmissions();
  out.ledger.push(ledgerRow(0), ledgerRow(1000, -1), ledgerRow(2000));
  sink.push(out);
  assert.equal(await sink.write(), true);
  assert.equal(written.length, 2);
  assert.equal(rejected.length, 1);
  assert.match(rejected[0]!, /code 53/);
});

test('commit point: per partition, the first record a host still needs; past the end when none is', () => {
  const p = new Partitions();
  const t = p.track('req', 0);
  t.push(10, 'a', 1000);
  t.push(11, null, 0); // a dead letter: never needed
  t.push(12, 'b', 5000);
  t.push(13, 'a', 9000);
  const from = new Map([
    ['a', 2000],
    ['b', 6000],
  ]);
  const offsets = () => p.commitOffsets((h) => from.get(h));
  assert.deepEqual(offsets(), [{ topic: 'req', partition: 0, offset: '13' }]);
  from.set('a', 500);
  // The commit point never moves back: what it passed is not read again (and not needed).
  assert.deepEqual(offsets(), [{ topic: 'req', partition: 0, offset: '13' }]);
  from.set('a', 9001);
  assert.deepEqual(offsets(), [{ topic: 'req', partition: 0, offset: '14' }]);
  // A host this member no longer holds needs nothing.
  t.push(14, 'gone', 1e12);
  assert.deepEqual(offsets(), [{ topic: 'req', partition: 0, offset: '15' }]);
});
