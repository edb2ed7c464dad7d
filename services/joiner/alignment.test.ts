import assert from 'node:assert/strict';
import { test } from 'node:test';
import { partitionsToHold } from './alignment.ts';

test('alignment: a partition ahead of its partner by more than the skew is held while the partner has lag', () => {
  const p = (topic: string, partition: number, maxEventMs: number, lag: number) => ({
    topic,
    partition,
    maxEventMs,
    lag,
  });
  const hold = partitionsToHold(
    [
      p('req', 0, 100_000, 50), // far ahead of pow/0, which still has records to read: held
      p('pow', 0, 20_000, 900),
      p('req', 1, 100_000, 0), // far ahead of pow/1, which is caught up: nothing to wait for
      p('pow', 1, 20_000, 0),
      p('req', 2, 40_000, 10), // within the skew
      p('pow', 2, 20_000, 10),
    ],
    30_000,
  );
  assert.deepEqual([...hold], ['req\u00000']);
});
