// A consumer-group assignor that keeps co-partitioned topics together: partition p of every
// subscribed topic goes to the same member. The joiner needs this: a host's requests and power are
// keyed by host into the same partition number of two topics, and one member must see both.
// kafkajs's default round-robin assigns topic-partitions independently, so with, say, 3 partitions
// and 2 members a host's requests land on one member and its power on the other.

import { AssignerProtocol, type Assigner, type PartitionAssigner } from 'kafkajs';

const NAME = 'JoulestreamCoPartitioned';
const VERSION = 1;

/** Partition p of every topic to the member at p mod n (members sorted): pure, for tests. */
export function coPartitionedAssignment(
  memberIds: readonly string[],
  partitionsByTopic: Readonly<Record<string, number[]>>,
): Record<string, Record<string, number[]>> {
  const members = [...memberIds].sort();
  const out: Record<string, Record<string, number[]>> = Object.fromEntries(members.map((m) => [m, {}]));
  if (members.length === 0) return out;
  const ids = [...new Set(Object.values(partitionsByTopic).flat())].sort((a, b) => a - b);
  ids.forEach((p, i) => {
    const m = members[i % members.length]!;
    for (const [topic, parts] of Object.entries(partitionsByTopic))
      if (parts.includes(p)) (out[m]![topic] ??= []).push(p);
  });
  return out;
}

export const CoPartitionedAssigner: PartitionAssigner = ({ cluster, logger }): Assigner => ({
  name: NAME,
  version: VERSION,
  assign({ members, topics }) {
    const byTopic = Object.fromEntries(
      topics.map((t) => [t, cluster.findTopicPartitionMetadata(t).map((m) => m.partitionId)]),
    );
    const counts = new Set(Object.values(byTopic).map((p) => p.length));
    if (counts.size > 1)
      logger.warn('co-partitioned topics have different partition counts; hosts may be split', { byTopic });
    const assignment = coPartitionedAssignment(
      members.map((m) => m.memberId),
      byTopic,
    );
    return Promise.resolve(
      Object.entries(assignment).map(([memberId, a]) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: VERSION,
          assignment: a,
          userData: Buffer.alloc(0),
        }),
      })),
    );
  },
  protocol({ topics }) {
    return {
      name: NAME,
      metadata: AssignerProtocol.MemberMetadata.encode({
        version: VERSION,
        topics,
        userData: Buffer.alloc(0),
      }),
    };
  },
});
