// The commit point of one partition: the offset of the first record that some host may still need.
// Pure: the joiner hands it the records it consumed (in offset order) and each host's retention
// bound; the restart property calls the same function, so the test and the joiner cannot drift.

/** What the commit point knows of one consumed record. */
export interface TrackedRecord {
  offset: number;
  /** The host it is about; null for records that went to the dead-letter topic. */
  host: string | null;
  /** Event time until which the record may still be needed (retention rule). */
  neededUntilMs: number;
}

/**
 * Index of the first record still needed, scanning from `head`; records.length when none is.
 * `neededFromMs(host)` is the host's retention bound, undefined for hosts this process holds no
 * state of (their records are not needed any more).
 */
export function firstNeeded(
  records: readonly TrackedRecord[],
  head: number,
  neededFromMs: (host: string) => number | undefined,
): number {
  let i = head;
  for (; i < records.length; i++) {
    const r = records[i]!;
    if (r.host === null) continue;
    const from = neededFromMs(r.host);
    if (from !== undefined && r.neededUntilMs >= from) break;
  }
  return i;
}
