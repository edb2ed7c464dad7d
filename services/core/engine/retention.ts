// The retention rule, the one place that says how long a record is needed. Eviction (what the engine
// forgets), versions (which records a window counts) and the commit point (what a restart must read
// again) all ask it, so they cannot drift apart (issue 13: the joiner tracked a request at its start
// with maxHold + W while the engine kept it to its last window, and a restart lost it).
import type { PowerSample, RequestLog } from '../types.ts';
import { windowOf } from './windows.ts';

export interface RetentionSettings {
  windowMs: number;
  horizonMs: number;
  gaps: { maxGapMs: number; maxHoldMs: number };
}

/** What the rule needs to know of a record. */
export type Retained =
  | { kind: 'request'; record: Pick<RequestLog, 'tStartMs' | 'tEndMs'> }
  | { kind: 'power'; record: Pick<PowerSample, 'tMs'> }
  | { kind: 'heartbeat'; tMs: number };

/**
 * How far a power sample reaches: the gap rules carry a sample's value up to max(maxGap, maxHold)
 * beyond it, and a window is integrated from the interval that starts before it, so a sample can
 * change every window that starts within this distance on either side of it.
 */
export const reachMs = (s: RetentionSettings): number =>
  Math.max(s.gaps.maxGapMs, s.gaps.maxHoldMs) + s.windowMs;

/** Start of the last window a request spans (an instant request spans the window it falls in). */
export const lastWindowStartMs = (r: Pick<RequestLog, 'tStartMs' | 'tEndMs'>, windowMs: number): number =>
  r.tEndMs > r.tStartMs ? windowOf(r.tEndMs - 1, windowMs) : windowOf(r.tStartMs, windowMs);

/**
 * The last instant (inclusive) at which a record can still change a window: its end plus its reach.
 * A request changes only the windows it spans, so its end is the end of its last window; a sample or
 * a heartbeat (which moves the watermark like the samples it vouches for) reaches `reachMs` on.
 */
export function neededUntilMs(s: RetentionSettings, r: Retained): number {
  switch (r.kind) {
    case 'request':
      return lastWindowStartMs(r.record, s.windowMs) + s.windowMs - 1;
    case 'power':
      return r.record.tMs + reachMs(s);
    case 'heartbeat':
      return r.tMs + reachMs(s);
  }
}

/** A record is needed while its needed-until has not fallen behind `fromMs`. */
export const isNeeded = (neededUntil: number, fromMs: number): boolean => neededUntil >= fromMs;

/** Start of the oldest window still correctable when `nextOpenMs` is the first open one. */
export const horizonStartMs = (nextOpenMs: number, s: RetentionSettings): number =>
  nextOpenMs - Math.ceil(s.horizonMs / s.windowMs) * s.windowMs;

/**
 * Where a host's needs begin. The engine holds records for windows from the horizon's start; a
 * request still held may span older windows, whose (final) attributions the engine keeps for its
 * row. A restart has no such memory and must rebuild those windows, so whatever they need is
 * needed too: from the first window of the oldest request still held.
 */
export const neededFromMs = (
  horizonStart: number,
  oldestHeldRequestStartMs: number,
  windowMs: number,
): number => Math.min(horizonStart, windowOf(oldestHeldRequestStartMs, windowMs));

/**
 * The event times whose windows a sample changes when it arrives after they closed: it bounds the
 * intervals to its neighbours (`prevMs`, `nextMs`, NaN where none), whose values the hold rule
 * carries maxHold further.
 */
export function changedWindowsFromMs(
  tMs: number,
  prevMs: number,
  nextMs: number,
  s: RetentionSettings,
): { fromMs: number; toMs: number } {
  return {
    fromMs: (Number.isNaN(prevMs) ? tMs : prevMs) - s.gaps.maxHoldMs,
    toMs: (Number.isNaN(nextMs) ? tMs : nextMs) + s.gaps.maxHoldMs,
  };
}
