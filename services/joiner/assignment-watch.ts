// The I/O half of assignment readiness: how many partitions the topics have (from the brokers),
// and, when this member turns not ready for holding none of them, one log line naming the group's
// members and their subscriptions, so whoever reads it sees which pipeline took the partitions.

import type { Kafka } from 'kafkajs';
import type { Logger } from '../adapters/logger.ts';
import { describeMembers, type Readiness } from './assignment-health.ts';

export async function watchAssignment(
  kafka: Kafka,
  groupId: string,
  topic: string,
  log: Logger,
  nowMs: () => number,
): Promise<(check: (topicPartitions: number, nowMs: number) => Readiness) => Readiness> {
  const admin = kafka.admin();
  await admin.connect();
  let partitions = 0;
  try {
    const md = await admin.fetchTopicMetadata({ topics: [topic] });
    partitions = md.topics[0]?.partitions.length ?? 0;
  } finally {
    await admin.disconnect();
  }
  let wasOk = true;
  return (check) => {
    const r = check(partitions, nowMs());
    if (!r.ok && wasOk) void logMembers(kafka, groupId, r.reason, log);
    wasOk = r.ok;
    return r;
  };
}

async function logMembers(kafka: Kafka, groupId: string, reason: string, log: Logger): Promise<void> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const { groups } = await admin.describeGroups([groupId]);
    log.error({ groupId, members: describeMembers(groups[0]?.members ?? []) }, `not ready: ${reason}`);
  } catch (err) {
    log.error({ groupId, err: (err as Error).message }, `not ready: ${reason} (group members unavailable)`);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
