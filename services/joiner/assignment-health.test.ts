import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AssignerProtocol } from 'kafkajs';
import fc from 'fast-check';
import { AssignmentHealth, describeMembers } from './assignment-health.ts';

test('not ready only after holding no partition for longer than the session timeout', () => {
  const h = new AssignmentHealth(30_000, 0);
  assert.deepEqual(h.check(4, 30_000), { ok: true }); // still joining
  const late = h.check(4, 30_001);
  assert.equal(late.ok, false);
  assert.match(late.ok ? '' : late.reason, /none of its topics' 4 partitions for 30 s/);
  h.onAssignment(2, 31_000);
  assert.deepEqual(h.check(4, 100_000), { ok: true });
  h.onAssignment(0, 100_000); // a rebalance took everything away
  assert.deepEqual(h.check(4, 129_000), { ok: true });
  assert.equal(h.check(4, 131_000).ok, false);
  assert.deepEqual(h.check(0, 131_000), { ok: true }); // topics without partitions: nothing to hold
});

test('any sequence of assignments: not ready exactly when empty for longer than the timeout', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 20_000 })), {
        maxLength: 20,
      }),
      fc.integer({ min: 0, max: 60_000 }),
      (events, after) => {
        const h = new AssignmentHealth(10_000, 0);
        let t = 0;
        let emptySince: number | null = 0;
        for (const [held, dt] of events) {
          t += dt;
          h.onAssignment(held, t);
          emptySince = held > 0 ? null : (emptySince ?? t);
        }
        const now = t + after;
        const expectOk = emptySince === null || now - emptySince <= 10_000;
        assert.equal(h.check(4, now).ok, expectOk);
      },
    ),
  );
});

test('group members are described with their subscriptions', () => {
  const meta = AssignerProtocol.MemberMetadata.encode({
    version: 1,
    topics: ['p2.requests', 'p2.power'],
    userData: Buffer.alloc(0),
  });
  assert.deepEqual(
    describeMembers([
      { memberId: 'm1', clientId: 'joulestream', clientHost: '/10.0.0.2', memberMetadata: meta },
      { memberId: 'm2', clientId: 'x', clientHost: '/h', memberMetadata: Buffer.alloc(0) },
    ]),
    [
      { memberId: 'm1', client: 'joulestream@/10.0.0.2', topics: ['p2.requests', 'p2.power'] },
      { memberId: 'm2', client: 'x@/h', topics: null },
    ],
  );
});
