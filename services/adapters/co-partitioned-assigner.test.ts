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

test('mixed subscriptions: a topic’s partitions go only to its subscribers, once each, co-partitioned', () => {
  const topicsOf = ['a.requests', 'a.power', 'b.requests', 'b.power', 'c.requests'];
  // Each member subscribes to a pipeline's pair, sometimes to a single topic or to extra ones.
  const subscription = fc.subarray(topicsOf, { minLength: 1 });
  fc.assert(
    fc.property(
      fc.array(subscription, { minLength: 1, maxLength: 6 }),
      fc.integer({ min: 1, max: 12 }),
      (subs, nParts) => {
        const members = subs.map((topics, i) => ({ memberId: `m${i}`, topics }));
        const parts = Array.from({ length: nParts }, (_, i) => i);
        const byTopic = Object.fromEntries(topicsOf.map((t) => [t, parts]));
        const a = coPartitionedAssignment(members, byTopic);
        const owner = new Map<string, string>();
        for (const [m, topics] of Object.entries(a)) {
          const mine = members.find((x) => x.memberId === m)!.topics;
          for (const [t, ps] of Object.entries(topics)) {
            assert.ok(mine.includes(t), `${m} got ${t}, to which it did not subscribe`);
            for (const p of ps) {
              assert.ok(!owner.has(`${t}/${p}`), `${t}/${p} assigned twice`);
              owner.set(`${t}/${p}`, m);
            }
          }
        }
        // Every partition of a topic someone subscribed to has an owner.
        for (const t of new Set(subs.flat()))
          for (const p of parts) assert.ok(owner.has(`${t}/${p}`), `${t}/${p} unassigned`);
        // Members with the same subscription hold partition p of all its topics together.
        for (const m of members)
          for (const p of parts) {
            const holders = new Set(
              m.topics
                .map((t) => owner.get(`${t}/${p}`))
                .filter((o) => subs[Number(o!.slice(1))]!.join() === m.topics.join()),
            );
            assert.ok(
              holders.size <= 1,
              `partition ${p} of ${m.topics.join('+')} split over ${[...holders].join(',')}`,
            );
          }
      },
    ),
  );
});

test('regression: a second pipeline in the same group gets none of the first pipeline’s partitions', () => {
  const parts = [0, 1, 2, 3];
  const a = coPartitionedAssignment(
    [
      { memberId: 'first', topics: ['joulestream.requests', 'joulestream.power'] },
      { memberId: 'second', topics: ['p2.requests', 'p2.power'] },
    ],
    {
      'joulestream.requests': parts,
      'joulestream.power': parts,
      'p2.requests': parts,
      'p2.power': parts,
    },
  );
  assert.deepEqual(a, {
    first: { 'joulestream.power': parts, 'joulestream.requests': parts },
    second: { 'p2.power': parts, 'p2.requests': parts },
  });
});
