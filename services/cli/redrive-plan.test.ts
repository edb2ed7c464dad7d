import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { DeadLetter } from '../adapters/avro.ts';
import { letterId, planRedrive, type StoredLetter } from './redrive-plan.ts';

const letter = (over: Partial<DeadLetter>): DeadLetter => ({
  reason: 'unknown-host',
  error: 'host h9 is not in the fleet config',
  stage: 'joiner',
  topic: 'p.requests',
  partition: 1,
  offset: 7,
  key: Buffer.from('h9'),
  payload: Buffer.from([0xc3, 0x01, 1]),
  tMs: 1_000,
  ...over,
});
const at = (offset: number, over: Partial<DeadLetter> = {}): StoredLetter => ({
  partition: 0,
  offset: String(offset),
  letter: letter(over),
});

test('matching letters go back to their source topics; others by reason, time or kind stay', () => {
  const plan = planRedrive(
    [
      at(0),
      at(1, { reason: 'clock-skew' }),
      at(2, { tMs: 500 }),
      at(3, { tMs: 5_000 }),
      at(4, { topic: 'p.power' }),
      at(5, { stage: 'request-collector', topic: null }),
    ],
    new Set([letterId(0, '0')]),
    { reason: 'unknown-host', fromMs: 1_000, toMs: 5_000 },
  );
  assert.deepEqual(
    plan.send.map((s) => [s.id, s.topic]),
    [['0/4', 'p.power']],
  );
  assert.equal(plan.alreadyRedriven, 1);
  assert.deepEqual(plan.notRedrivable, { 'request-collector': 1 });
  assert.deepEqual(plan.bySourceTopic, { 'p.power': 1 });
  assert.deepEqual(plan.send[0]!.key, Buffer.from('h9'));
});

test('at most once: a second plan over the first one’s markers sends nothing, whatever the letters', () => {
  fc.assert(
    fc.property(
      fc.array(fc.record({ offset: fc.nat(50), hit: fc.boolean(), t: fc.nat(10) }), { maxLength: 40 }),
      (rows) => {
        const letters = rows.map((r) => at(r.offset, { reason: r.hit ? 'unknown-host' : 'late', tMs: r.t }));
        const f = { reason: 'unknown-host', fromMs: null, toMs: null };
        const first = planRedrive(letters, new Set(), f);
        // No letter is sent twice within a run either (a re-fetched offset is one letter).
        assert.equal(new Set(first.send.map((s) => s.id)).size, first.send.length);
        const second = planRedrive(letters, new Set(first.send.map((s) => s.id)), f);
        assert.equal(second.send.length, 0);
        assert.equal(second.alreadyRedriven, first.send.length);
      },
    ),
  );
});
