import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { coPartitionedAssignment } from './co-partitioned-assigner.ts';

test('partition p of both topics always goes to the same member, each exactly once, balanced', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 24 }), (nMembers, nParts) => {
      const members = Array.from({ length: nMembers }, (_, i) => `m-${(i * 7919) % 101}`);
      const parts = Array.from({ length: nParts }, (_, i) => i);
      const a = coPartitionedAssignment(members, { requests: parts, power: parts });
      const owner = new Map<string, string>();
      for (const [m, topics] of Object.entries(a))
        for (const [t, ps] of Object.entries(topics))
          for (const p of ps) {
            assert.ok(!owner.has(`${t}/${p}`), `${t}/${p} assigned twice`);
            owner.set(`${t}/${p}`, m);
          }
      for (const p of parts) {
        assert.ok(owner.has(`requests/${p}`) && owner.has(`power/${p}`), `partition ${p} unassigned`);
        assert.equal(owner.get(`requests/${p}`), owner.get(`power/${p}`), `partition ${p} split`);
      }
      const sizes = Object.values(a).map((t) => (t.requests ?? []).length);
      assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `unbalanced: ${sizes.join(',')}`);
    }),
  );
});

test('kafkajs’s default round-robin would split a host: the case this assignor exists for', () => {
  // Round-robin over topic-partitions with 2 members and 3 partitions: r0 r1 r2 p0 p1 p2 -> A B A B A B.
  const rr = ['r0', 'r1', 'r2', 'p0', 'p1', 'p2'].map((tp, i) => [tp, i % 2]);
  assert.notEqual(rr[0]![1], rr[3]![1]);
  const a = coPartitionedAssignment(['A', 'B'], { requests: [0, 1, 2], power: [0, 1, 2] });
  assert.deepEqual(a, { A: { requests: [0, 2], power: [0, 2] }, B: { requests: [1], power: [1] } });
});
