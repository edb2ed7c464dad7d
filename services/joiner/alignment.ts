// Event-time alignment of the two input topics. A host's requests and power arrive on partition p
// of two topics, and a fetch returns up to the same number of bytes of each. Requests carry ~2.5x
// more event time per byte than power samples, so in a backlog the requests partition runs ahead,
// further with every fetch: its requests wait in open windows for power that is still unread, and
// the state grows with the length of the backlog (issue 13: 0.90 -> 1.35 MB per host at H = 5 min
// between 8 and 25 minutes of input, where the engine fed in time order stayed flat). Like Flink's
// watermark alignment, a partition whose event time is ahead of its partner's by more than the
// allowed skew is paused while the partner still has records to read, and resumed when it catches up.

export interface PartitionProgress {
  topic: string;
  partition: number;
  /** Newest event time routed from it (-Infinity before the first). */
  maxEventMs: number;
  /** Records behind its high watermark at its last batch. */
  lag: number;
}

/** Which partitions to hold back, keyed `topic\0partition`. */
export function partitionsToHold(progress: readonly PartitionProgress[], maxSkewMs: number): Set<string> {
  const byPartition = new Map<number, PartitionProgress[]>();
  for (const p of progress) {
    let list = byPartition.get(p.partition);
    if (!list) byPartition.set(p.partition, (list = []));
    list.push(p);
  }
  const hold = new Set<string>();
  for (const list of byPartition.values())
    for (const ahead of list)
      for (const behind of list)
        if (behind !== ahead && behind.lag > 0 && ahead.maxEventMs - behind.maxEventMs > maxSkewMs)
          hold.add(`${ahead.topic}\u0000${ahead.partition}`);
  return hold;
}
