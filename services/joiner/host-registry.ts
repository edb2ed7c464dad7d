// The host registry: one engine per host this member holds, the partition each host arrives on,
// and whether that partition is caught up (only then may a silent stream be called idle).

import type { Emissions, EngineSettings } from '../core/engine/emissions.ts';
import { HostEngine } from '../core/engine/engine.ts';
import type { Fleet } from '../core/fleet.ts';
import type { KappaCalibrator } from '../core/kappa-calibration.ts';
import type { Partitions } from './partitions.ts';

export class HostRegistry {
  private readonly hosts = new Map<string, HostEngine>();
  /** The partition each host's records arrive on (the same for both topics: co-partitioned). */
  private readonly hostPartition = new Map<string, number>();
  /** Idle timeouts count from no earlier than the start. */
  startedAtMs = 0;

  constructor(
    private readonly fleet: Fleet,
    private readonly settings: EngineSettings,
    private readonly partitions: Partitions,
    private readonly topics: readonly string[],
    /** Online kappa (decision record 0016): fed every host's final clean windows; null when off. */
    private readonly calibrator: KappaCalibrator | null = null,
  ) {}

  engine(id: string): HostEngine {
    let h = this.hosts.get(id);
    if (!h) {
      this.hosts.set(id, (h = new HostEngine(this.fleet.hosts.get(id)!, this.fleet, this.settings)));
      const c = this.calibrator;
      if (c) {
        h.kappaSink = (o) => c.observe(o);
        h.kappaSchedule = c.schedule;
      }
    }
    return h;
  }

  /** The latest start of a window not yet closed on any host (NaN before any record). */
  frontierMs(): number {
    let f = Number.NaN;
    for (const h of this.hosts.values()) {
      const w = h.openWindowStartMs();
      if (!Number.isNaN(w) && !(w <= f)) f = w;
    }
    return f;
  }

  seenOn(host: string, partition: number): void {
    this.hostPartition.set(host, partition);
  }

  get size(): number {
    return this.hosts.size;
  }

  neededFromMs(host: string): number | undefined {
    return this.hosts.get(host)?.neededFromMs();
  }

  /**
   * Since when all partitions of a host (requests and power, co-partitioned) have had no lag; null
   * while one has, or while one has not reported its lag yet (by a batch, or by the start lag read
   * at assignment: kafkajs hands over no empty batches). A backlog of one topic fits in a single
   * fetch while the other is still unread, so "not heard of" must not count as caught up: in the
   * memory bench it did, and 60,862 of 262,972 records came out late.
   */
  caughtUpSince(host: string): number | null {
    const p = this.hostPartition.get(host);
    if (p === undefined) return null;
    let since = this.startedAtMs;
    for (const topic of this.topics) {
      const t = this.partitions.find(topic, p);
      if (!t?.reported || t.caughtUpSinceMs === null) return null;
      since = Math.max(since, t.caughtUpSinceMs);
    }
    return since;
  }

  /** Advances the hosts touched (all when null) with the engine clock. */
  advance(touched: Iterable<string> | null, engineNowMs: number, out: Emissions): void {
    for (const id of touched ?? this.hosts.keys())
      this.hosts.get(id)?.advance(engineNowMs, out, this.caughtUpSince(id));
  }

  /** Forgets hosts of partitions outside `owned`; returns how many. */
  dropUnowned(owned: ReadonlySet<number>): number {
    let dropped = 0;
    for (const [host, partition] of this.hostPartition) {
      if (owned.has(partition)) continue;
      this.hosts.delete(host);
      this.hostPartition.delete(host);
      dropped++;
    }
    return dropped;
  }

  /** Walks every host's state: O(state), for the 1 s timer only. */
  stats(): { bytes: number; open: number; held: number } {
    let bytes = 0;
    let open = 0;
    let held = 0;
    for (const h of this.hosts.values()) {
      bytes += h.stateBytes();
      const c = h.windowCounts();
      open += c.open;
      held += c.held;
    }
    return { bytes, open, held };
  }
}
