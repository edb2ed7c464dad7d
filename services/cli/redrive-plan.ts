// Which dead letters a re-drive sends where. Pure: the I/O half (services/cli/redrive.ts) reads
// the dead-letter topic and the marker topic of letters already re-driven, and hands both here.
//
// A dead letter's id is its own position in the dead-letter topic (`partition/offset`): stable,
// unique, and known to every run. Only letters that carry a source topic are re-drivable: the
// joiner's, whose payload is the original Kafka value. A collector's letter holds the input line
// it could not parse; it goes back by running the collector again on the fixed input.

import type { DeadLetter } from '../adapters/avro.ts';

export interface StoredLetter {
  partition: number;
  offset: string;
  letter: DeadLetter;
}

export interface RedriveFilter {
  reason: string;
  /** Dead-lettered at or after (epoch ms). */
  fromMs: number | null;
  /** Dead-lettered before (epoch ms). */
  toMs: number | null;
}

export interface RedriveSend {
  id: string;
  topic: string;
  key: Buffer | null;
  value: Buffer;
}

export interface RedrivePlan {
  send: RedriveSend[];
  /** Matching letters some earlier run already sent back. */
  alreadyRedriven: number;
  /** Matching letters without a source topic (collector input lines), by stage. */
  notRedrivable: Record<string, number>;
  /** Letters sent, by source topic. */
  bySourceTopic: Record<string, number>;
}

export const letterId = (partition: number, offset: string): string => `${partition}/${offset}`;

export function planRedrive(
  letters: readonly StoredLetter[],
  redriven: ReadonlySet<string>,
  f: RedriveFilter,
): RedrivePlan {
  const plan: RedrivePlan = { send: [], alreadyRedriven: 0, notRedrivable: {}, bySourceTopic: {} };
  const seen = new Set<string>();
  for (const { partition, offset, letter } of letters) {
    if (letter.reason !== f.reason) continue;
    if (f.fromMs !== null && letter.tMs < f.fromMs) continue;
    if (f.toMs !== null && letter.tMs >= f.toMs) continue;
    const id = letterId(partition, offset);
    if (seen.has(id)) continue; // the same letter read twice (a re-fetch) is still one letter
    seen.add(id);
    if (redriven.has(id)) {
      plan.alreadyRedriven++;
      continue;
    }
    if (letter.topic === null || letter.payload.length === 0) {
      plan.notRedrivable[letter.stage] = (plan.notRedrivable[letter.stage] ?? 0) + 1;
      continue;
    }
    plan.send.push({ id, topic: letter.topic, key: letter.key, value: letter.payload });
    plan.bySourceTopic[letter.topic] = (plan.bySourceTopic[letter.topic] ?? 0) + 1;
  }
  return plan;
}

/** The summary a person reads after a run. */
export function formatPlan(plan: RedrivePlan, f: RedriveFilter, dryRun: boolean): string {
  const lines = [
    `${dryRun ? 'dry run: would re-drive' : 're-drove'} ${plan.send.length} dead letters with reason ${f.reason}`,
    ...Object.entries(plan.bySourceTopic)
      .sort()
      .map(([t, n]) => `  ${n} -> ${t}`),
  ];
  if (plan.alreadyRedriven > 0)
    lines.push(`skipped ${plan.alreadyRedriven} already re-driven by an earlier run`);
  for (const [stage, n] of Object.entries(plan.notRedrivable).sort())
    lines.push(
      `not re-drivable: ${n} from ${stage} hold the input line, not a Kafka record; run that collector again on the fixed input`,
    );
  return lines.join('\n');
}
