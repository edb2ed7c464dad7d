// The trigger: a host's watermark, from the request stream and each power source, and which
// streams are idle. Event time decides; the injected clock only measures silence, and only while
// the host's partitions are caught up.

import type { Heartbeat, Stream } from '../types.ts';

interface StreamState {
  maxEventMs: number;
  /** Clock time the stream was last heard from; NaN until then. */
  lastHeardMs: number;
}

export interface WatermarkSettings {
  /** How far behind the newest event a stream's records may still arrive (watermark lag). */
  outOfOrdernessMs: number;
  /** A stream silent this long (while caught up) stops holding the host's watermark back. */
  idleTimeoutMs: number;
}

const fresh = (): StreamState => ({ maxEventMs: Number.NEGATIVE_INFINITY, lastHeardMs: Number.NaN });

export class Watermarks {
  private readonly requests = fresh();
  /** Power progress per source (nvml, rapl, bmc, ...): collectors deliver at their own pace. */
  private readonly powerSources = new Map<string, StreamState>();
  /** Clock time of the host's first record: a stream never heard from is silent since then. */
  private firstHeardMs = Number.NaN;

  constructor(private readonly settings: WatermarkSettings) {}

  /** Notes the clock time of the host's first record. */
  heard(nowMs: number): void {
    if (Number.isNaN(this.firstHeardMs)) this.firstHeardMs = nowMs;
  }

  request(tEndMs: number, nowMs: number): void {
    bump(this.requests, tEndMs, nowMs);
  }

  power(source: string, tMs: number, nowMs: number): void {
    bump(this.powerSource(source), tMs, nowMs);
  }

  /**
   * A power heartbeat vouches for its own source only (decision record 0009): a fast GPU collector
   * must not declare a slower RAPL or BMC collector complete. Without a source it covers them all.
   */
  heartbeat(hb: Heartbeat, nowMs: number): void {
    const targets =
      hb.stream === 'requests'
        ? [this.requests]
        : hb.source
          ? [this.powerSource(hb.source)]
          : [this.powerSource(''), ...this.powerSources.values()];
    for (const st of targets) bump(st, hb.tMs, nowMs);
  }

  private powerSource(name: string): StreamState {
    let st = this.powerSources.get(name);
    if (!st) this.powerSources.set(name, (st = fresh()));
    return st;
  }

  /**
   * The host's watermark: the minimum over the request stream and every power source heard from,
   * leaving out those idle; and which streams were left out. A stream is idle only when the host's
   * partitions are caught up (`caughtUpSinceMs` not null: no lag) and it has had no record for the
   * idle timeout since then; while a partition has lag its records are merely unread, so the host
   * waits for them, never for the clock (issue 13: a backlog catch-up made 258,000 records late).
   */
  watermark(nowMs: number, caughtUpSinceMs: number | null): { wmMs: number; idle: Stream[] } {
    const live: number[] = [];
    const idle = new Set<Stream>();
    const all: number[] = [];
    const consider = (name: Stream, st: StreamState): void => {
      const lastHeard = Number.isFinite(st.lastHeardMs) ? st.lastHeardMs : this.firstHeardMs;
      const wm = st.maxEventMs - this.settings.outOfOrdernessMs;
      if (Number.isFinite(wm)) all.push(wm);
      if (
        caughtUpSinceMs !== null &&
        nowMs - Math.max(lastHeard, caughtUpSinceMs) > this.settings.idleTimeoutMs
      )
        idle.add(name);
      else live.push(wm);
    };
    consider('requests', this.requests);
    // A source-less entry only stands for the stream while no named source has spoken.
    const sources = [...this.powerSources].filter(([k]) => k !== '' || this.powerSources.size === 1);
    if (sources.length === 0) consider('power', fresh());
    for (const [, st] of sources) consider('power', st);
    if (live.length === 0)
      return { wmMs: all.length ? Math.max(...all) : Number.NEGATIVE_INFINITY, idle: [...idle] };
    return { wmMs: Math.min(...live), idle: [...idle] };
  }
}

function bump(st: StreamState, tMs: number, nowMs: number): void {
  st.maxEventMs = Math.max(st.maxEventMs, tMs);
  st.lastHeardMs = nowMs;
}
