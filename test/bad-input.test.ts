// The bad-input corpus, one record per class, fed to a running joiner in the middle of good traffic:
// every bad record lands on the dead-letter topic with its reason, topic, partition and offset, is
// counted per reason, and the good records give exactly the rows of a run that never saw the bad ones.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { badInputScenario } from '../services/chaos/faults.ts';
import { QUICK_SCALE } from '../services/chaos/scenario.ts';
import { isolatedEnv } from './support/stack.ts';

test('every class of bad input is dead-lettered with its reason; good records are unaffected', async () => {
  const base = await isolatedEnv();
  const r = await badInputScenario(base, QUICK_SCALE);
  const prefix = `${base.KAFKA_TOPIC_PREFIX!}faulty.`;

  // One dead letter per bad record, each with the reason its class needs.
  assert.equal(r.deadLettered, 14, `reasons: ${JSON.stringify(r.reasons)}`);
  const want: Record<string, number> = {
    'malformed-avro': 3,
    'unknown-schema': 1,
    'invalid-power': 2,
    'absurd-power': 1,
    'clock-skew': 2,
    'unknown-host': 1,
    'conflicting-duplicate': 1,
    oversized: 2,
    'end-before-start': 1,
  };
  assert.deepEqual(r.reasons, want);
  assert.deepEqual(r.counted, want);
  for (const d of r.letters) {
    assert.ok(d.topic === `${prefix}requests` || d.topic === `${prefix}power`, String(d.topic));
    assert.ok(d.partition !== null && d.partition >= 0 && d.partition < 3);
    assert.ok(d.offset !== null && d.offset >= 0);
    assert.ok(d.error.length > 10, `a message that says what is wrong: ${d.error}`);
  }
  const oversized = r.letters.filter((d) => d.reason === 'oversized');
  assert.ok(
    oversized.every((d) => d.payload.length <= 64 * 1024),
    'payloads are capped',
  );

  // The good records around them: row for row what the clean run, without the corpus, produced.
  assert.equal(r.requestRows, r.requestsIn, 'one request row per request');
  assert.deepEqual(
    { lost: r.lost, duplicated: r.duplicated, changed: r.changed },
    { lost: 0, duplicated: 0, changed: 0 },
  );
});
