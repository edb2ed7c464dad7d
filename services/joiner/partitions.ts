// Per topic and partition: the records consumed (for the commit point), the next offset, and since
// when the partition has been caught up (no lag behind its high watermark).

import { firstNeeded, type TrackedRecord } from '../core/offsets/commit-point.ts';
import type { PartitionProgress } from './alignment.ts';

/** Records of one partition in consumption order, with what each is about (for the commit point). */
export class PartitionTrack {
  records: TrackedRecord[] = [];
  head = 0;
  nextOffset = -1;
  /** Engine clock ms since the last batch left no lag; null while it had lag. */
  caughtUpSinceMs: number | null = null;
  /** Newest event time routed from this partition, and its lag at the last batch (alignment). */
  maxEventMs = Number.NEGATIVE_INFINITY;
  lag = 0;
  /** Whether a batch or the start lag has said anything about this partition's lag. */
  reported = false;

  push(offset: number, host: string | null, neededUntilMs: number): void {
    this.records.push({ offset, host, neededUntilMs });
    this.nextOffset = offset + 1;
  }

  /** The offset to commit: the first record still needed, or past the last one consumed. */
  commitPoint(neededFromMs: (host: string) => number | undefined): number {
    this.head = firstNeeded(this.records, this.head, neededFromMs);
    if (this.head > 4096) {
      this.records = this.records.slice(this.head);
      this.head = 0;
    }
    return this.records[this.head]?.offset ?? this.nextOffset;
  }
}

const keyOf = (topic: string, partition: number) => `${topic}\u0000${partition}`;

export class Partitions {
  private readonly tracks = new Map<string, PartitionTrack>();

  track(topic: string, partition: number): PartitionTrack {
    const k = keyOf(topic, partition);
    let t = this.tracks.get(k);
    if (!t) this.tracks.set(k, (t = new PartitionTrack()));
    return t;
  }

  find(topic: string, partition: number): PartitionTrack | undefined {
    return this.tracks.get(keyOf(topic, partition));
  }

  /** Records a batch's lag; returns it. */
  noteLag(topic: string, partition: number, highWatermark: number, engineNowMs: number): number {
    const t = this.track(topic, partition);
    const lag = Math.max(0, highWatermark - (t.nextOffset >= 0 ? t.nextOffset : 0));
    t.lag = lag;
    t.reported = true;
    if (lag > 0) t.caughtUpSinceMs = null;
    else if (t.caughtUpSinceMs === null) t.caughtUpSinceMs = engineNowMs;
    return lag;
  }

  progress(): PartitionProgress[] {
    const out: PartitionProgress[] = [];
    for (const [k, t] of this.tracks) {
      const [topic, p] = k.split('\u0000');
      out.push({ topic: topic!, partition: Number(p), maxEventMs: t.maxEventMs, lag: t.lag });
    }
    return out;
  }

  /**
   * The lag at assignment, before any batch: sets the caught-up state only for a partition no
   * batch has reported on yet (a batch knows better).
   */
  noteStartLag(topic: string, partition: number, lag: number, engineNowMs: number): void {
    const t = this.track(topic, partition);
    if (t.reported) return;
    t.reported = true;
    t.lag = lag;
    t.caughtUpSinceMs = lag > 0 ? null : engineNowMs;
  }

  /** Forgets partitions outside `owned`; returns them. */
  drop(owned: ReadonlySet<number>): { topic: string; partition: number }[] {
    const out = [];
    for (const k of [...this.tracks.keys()]) {
      const [topic, p] = k.split('\u0000');
      if (owned.has(Number(p))) continue;
      this.tracks.delete(k);
      out.push({ topic: topic!, partition: Number(p) });
    }
    return out;
  }

  /** The offsets to commit, per partition consumed from. */
  commitOffsets(neededFromMs: (host: string) => number | undefined) {
    const offsets = [];
    for (const [k, t] of this.tracks) {
      if (t.nextOffset < 0) continue;
      const [topic, p] = k.split('\u0000');
      offsets.push({ topic: topic!, partition: Number(p), offset: String(t.commitPoint(neededFromMs)) });
    }
    return offsets;
  }
}
