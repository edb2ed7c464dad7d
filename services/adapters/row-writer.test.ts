import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffMs, errorCode, isDataError } from './row-writer.ts';

test('error codes come from the client field or from 18.16-style message text', () => {
  assert.equal(errorCode({ code: '27', message: 'x' }), 27);
  assert.equal(
    errorCode(new Error('Code: 117, e.displayText() = DB::Exception: Unknown field found while parsing')),
    117,
  );
  assert.equal(errorCode(new Error('connect ECONNREFUSED 127.0.0.1:18123')), null);
  assert.equal(errorCode({ code: 'ECONNRESET', message: 'socket hang up' }), null);
});

test('only errors that blame the data split a batch; outages, auth and schema faults are retried', () => {
  assert.ok(isDataError({ code: '27' }));
  assert.ok(isDataError(new Error('Code: 53, e.displayText() = DB::Exception: Type mismatch')));
  assert.ok(!isDataError(new Error('connect ECONNREFUSED')));
  assert.ok(!isDataError({ code: '252' })); // TOO_MANY_PARTS
  assert.ok(!isDataError({ code: '516' })); // AUTHENTICATION_FAILED
  assert.ok(!isDataError({ code: '60' })); // UNKNOWN_TABLE
});

test('backoff doubles to a 10 s cap and is jittered into [50 %, 100 %] of the step', () => {
  assert.equal(
    backoffMs(0, () => 1),
    200,
  );
  assert.equal(
    backoffMs(0, () => 0),
    100,
  );
  assert.equal(
    backoffMs(3, () => 1),
    1600,
  );
  assert.equal(
    backoffMs(20, () => 1),
    10_000,
  );
  for (let a = 0; a < 12; a++) {
    const d = backoffMs(a);
    const step = Math.min(10_000, 200 * 2 ** Math.min(a, 8));
    assert.ok(d >= step / 2 && d <= step);
  }
});
