// Readiness from the group assignment. A joiner that holds no partition while its topics have
// some attributes nothing, yet used to answer /readyz with 200: with a second pipeline in the same
// group, one joiner read 0 records and half of the other's hosts went unattributed, and both said
// ready. After a rebalance a member may briefly hold nothing, so only an empty assignment that
// lasts longer than the session timeout (by then the group has settled) makes it not ready. Pure:
// the caller passes the times and the group description.

import { subscriptionOf } from '../adapters/co-partitioned-assigner.ts';

export type Readiness = { ok: true } | { ok: false; reason: string };

export class AssignmentHealth {
  /** Since when this member has held no partition; null while it holds some. */
  private emptySinceMs: number | null;

  constructor(
    private readonly sessionTimeoutMs: number,
    startMs: number,
  ) {
    this.emptySinceMs = startMs; // nothing is held before the first assignment
  }

  /** Called on every group join with the number of partitions this member now holds. */
  onAssignment(heldPartitions: number, nowMs: number): void {
    if (heldPartitions > 0) this.emptySinceMs = null;
    else this.emptySinceMs ??= nowMs;
  }

  /** Whether the member has been empty too long; `topicPartitions`: partitions its topics have. */
  check(topicPartitions: number, nowMs: number): Readiness {
    if (this.emptySinceMs === null || topicPartitions === 0) return { ok: true };
    const emptyMs = nowMs - this.emptySinceMs;
    if (emptyMs <= this.sessionTimeoutMs) return { ok: true };
    return {
      ok: false,
      reason: `holds none of its topics' ${topicPartitions} partitions for ${Math.round(emptyMs / 1000)} s (longer than the ${this.sessionTimeoutMs / 1000} s session timeout): check the group's members and their subscriptions in the log`,
    };
  }
}

export interface GroupMemberDescription {
  memberId: string;
  clientId: string;
  clientHost: string;
  memberMetadata: Buffer;
}

/** The group's members and what each subscribed to, for the not-ready log line. */
export function describeMembers(
  members: readonly GroupMemberDescription[],
): { memberId: string; client: string; topics: string[] | null }[] {
  return members.map((m) => ({
    memberId: m.memberId,
    client: `${m.clientId}@${m.clientHost}`,
    topics: subscriptionOf(m.memberMetadata),
  }));
}
