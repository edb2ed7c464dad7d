// A consumer-group assignor that keeps co-partitioned topics together: partition p of every
// subscribed topic goes to the same member. The joiner needs this: a host's requests and power are
// keyed by host into the same partition number of two topics, and one member must see both.
// kafkajs's default round-robin assigns topic-partitions independently, so with, say, 3 partitions
// and 2 members a host's requests land on one member and its power on the other.

import { AssignerProtocol, type Assigner, type PartitionAssigner } from 'kafkajs';

const NAME = 'JoulestreamCoPartitioned';
const VERSION = 1;

/** A group member and the topics it subscribed to (from its join metadata). */
export interface GroupMember {
  memberId: string;
  topics: readonly string[];
}

/**
 * Partition p of every topic to the member at p mod n (members sorted), among the members that
 * subscribed to those topics only: pure, for tests. Members are grouped by their subscription, so
 * two pipelines with different topic prefixes in one group each get only their own topics' partitions
 * (a member handed a topic it did not subscribe to ignores it, and that topic's hosts go
 * unattributed). A topic two subscription groups share goes to the first (sorted) of them only,
 * so every topic-partition still has exactly one owner. Plain member ids mean everyone subscribed
 * to every topic.
 */
export function coPartitionedAssignment(
  memberList: readonly (string | GroupMember)[],
  partitionsByTopic: Readonly<Record<string, number[]>>,
): Record<string, Record<string, number[]>> {
  const allTopics = Object.keys(partitionsByTopic);
  const members = memberList.map((m) => (typeof m === 'string' ? { memberId: m, topics: allTopics } : m));
  const out: Record<string, Record<string, number[]>> = Object.fromEntries(
    members.map((m) => [m.memberId, {}]),
  );
  const groups = new Map<string, { topics: string[]; ids: string[] }>();
  for (const m of members) {
    const topics = [...new Set(m.topics)].filter((t) => t in partitionsByTopic).sort();
    const key = topics.join('\u0000');
    const g = groups.get(key) ?? { topics, ids: [] };
    g.ids.push(m.memberId);
    groups.set(key, g);
  }
  const taken = new Set<string>();
  for (const key of [...groups.keys()].sort()) {
    const g = groups.get(key)!;
    const topics = g.topics.filter((t) => !taken.has(t));
    for (const t of topics) taken.add(t);
    const ids = g.ids.sort();
    if (topics.length === 0) continue;
    const parts = [...new Set(topics.flatMap((t) => partitionsByTopic[t]!))].sort((a, b) => a - b);
    parts.forEach((p, i) => {
      const m = ids[i % ids.length]!;
      for (const t of topics) if (partitionsByTopic[t]!.includes(p)) (out[m]![t] ??= []).push(p);
    });
  }
  return out;
}

/** The topics a member subscribed to, from its join metadata; null when it cannot be read. */
export function subscriptionOf(metadata: Buffer | undefined): string[] | null {
  if (!metadata || metadata.length === 0) return null;
  try {
    return AssignerProtocol.MemberMetadata.decode(metadata)?.topics ?? null;
  } catch {
    return null; // not this protocol's metadata: treat the member as subscribed to everything
  }
}

export const CoPartitionedAssigner: PartitionAssigner = ({ cluster, logger }): Assigner => ({
  name: NAME,
  version: VERSION,
  async assign({ members, topics }) {
    // kafkajs hands the leader only its own subscription; members of another pipeline in the same
    // group subscribed to other topics, whose partitions the leader must know to assign them.
    const subscribed = members.map((m) => ({
      memberId: m.memberId,
      topics: subscriptionOf(m.memberMetadata) ?? topics,
    }));
    const all = [...new Set(subscribed.flatMap((m) => m.topics))].sort();
    if (all.some((t) => !topics.includes(t))) await cluster.addMultipleTargetTopics(all);
    const byTopic = Object.fromEntries(
      all.map((t) => [t, cluster.findTopicPartitionMetadata(t).map((m) => m.partitionId)]),
    );
    const subsets = new Map<string, string[]>();
    for (const m of subscribed) subsets.set([...m.topics].sort().join(','), [...m.topics]);
    for (const ts of subsets.values()) {
      const counts = new Set(ts.map((t) => byTopic[t]?.length ?? 0));
      if (counts.size > 1)
        logger.warn('co-partitioned topics have different partition counts; hosts may be split', { byTopic });
    }
    const assignment = coPartitionedAssignment(subscribed, byTopic);
    return Object.entries(assignment).map(([memberId, a]) => ({
      memberId,
      memberAssignment: AssignerProtocol.MemberAssignment.encode({
        version: VERSION,
        assignment: a,
        userData: Buffer.alloc(0),
      }),
    }));
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
