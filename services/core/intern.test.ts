import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Interner } from './intern.ts';

// String identity is not observable in JavaScript; what the interner saves is measured by
// `npm run bench:memory` (docs/bench.md). Here: values come back unchanged, and the table is bounded.
test('returns equal values, keeps one entry per value, and stops adding past its bound', () => {
  const i = new Interner(3);
  assert.equal(i.get(['host', 'a'].join('-')), 'host-a');
  assert.equal(i.get(['host', 'a'].join('-')), 'host-a');
  assert.equal(i.size, 1);
  for (const v of ['b', 'c', 'd', 'e']) i.get(v);
  assert.equal(i.size, 3);
  assert.equal(i.get('e'), 'e');
});
