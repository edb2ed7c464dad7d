import assert from 'node:assert/strict';
import { test } from 'node:test';
import { valueAt, withPoint } from './fleet.ts';

test('withPoint keeps a step series sorted, replaces a repeated time, and never mutates its input', () => {
  const a = withPoint(null, 2000, 10);
  const b = withPoint(a, 1000, 5);
  const c = withPoint(b, 3000, 20);
  const d = withPoint(c, 2000, 11);
  assert.deepEqual(d, { tMs: [1000, 2000, 3000], value: [5, 11, 20] });
  assert.deepEqual(c.value, [5, 10, 20]);
  assert.equal(valueAt(d, 2500), 11);
  assert.equal(valueAt(d, 999), undefined);
});
