// The per-host event-time engine: aligns requests and power samples, closes windows behind the
// watermark, attributes them, and re-attributes closed windows when late records arrive within the
// correction horizon. Pure: the caller passes wall-clock time in and ships the emitted rows out.

import {
  addContribution,
  attributeWindow,
  emptyContribution,
  RANK_MODEL,
  type Contribution,
  type DeviceWindow,
  type IdlePolicy,
  type LedgerEntry,
  type WindowAttribution,
} from './attribute.ts';
import { embodiedGPerMs, factorsAt, type Facility, type Fleet, type HostSpec } from './fleet.ts';
import { IdleLearner } from './idle.ts';
import { kappaObservations, type KappaObservation } from './kappa-fit.ts';
import { integrateWindow, toIntervals, type GapPolicy } from './integrate.ts';
import type { ShareModel, ShareModelSetting } from './shares.ts';
import {
  deviceKey,
  type Heartbeat,
  type PowerSample,
  type RequestLog,
  type Role,
  type Stream,
} from './types.ts';

export const METHOD_VERSION = 'jsm-1.0';

export interface JoinerSettings {
  windowMs: number;
  /** How far behind the newest event a stream's records may still arrive (watermark lag). */
  outOfOrdernessMs: number;
  /** Extra wait after the watermark passes a window's end before it closes. */
  allowedLatenessMs: number;
  /** A stream silent this long (wall clock) stops holding the host's watermark back. */
  idleTimeoutMs: number;
  /** Closed windows stay correctable this long behind the watermark; older records are late. */
  horizonMs: number;
  gaps: GapPolicy;
  idlePolicy: IdlePolicy;
  shareModel: ShareModelSetting;
  defaultKappa: number;
  kappaByModel: Readonly<Record<string, number>>;
  idleSource: 'catalog' | 'learned';
  /** Windows whose attribution is cached for assembling request rows. */
  attributionCacheWindows: number;
}

export interface RequestRow {
  requestId: string;
  host: string;
  facility: string;
  region: string;
  zone: string;
  model: string;
  tenant: string;
  status: string;
  gpus: readonly number[];
  tStartMs: number;
  tEndMs: number;
  promptTokens: number;
  completionTokens: number;
  /** Agent-run grouping carried from the request log; empty when the log had none. */
  traceId?: string;
  conversationId?: string;
  agentName?: string;
  acceleratorDynamicJ: number;
  acceleratorIdleJ: number;
  hostDynamicJ: number;
  hostIdleJ: number;
  itJ: number;
  overheadJ: number;
  facilityJ: number;
  estimatedJ: number;
  embodiedG: number;
  co2eLocationG: number;
  co2eMarketG: number | null;
  waterL: number | null;
  ciSource: 'series' | 'annual' | 'mixed';
  shareModel: ShareModel;
  flags: string[];
  version: number;
  methodVersion: string;
}

export interface LedgerRow extends LedgerEntry {
  host: string;
  facility: string;
  windowStartMs: number;
  windowMs: number;
  activeRequests: number;
  flags: string[];
  version: number;
  methodVersion: string;
}

export type LateRecord =
  | { kind: 'request'; record: RequestLog; reason: string }
  | { kind: 'power'; record: PowerSample; reason: string };

export interface Emissions {
  requests: RequestRow[];
  ledger: LedgerRow[];
  late: LateRecord[];
  /** Records that repeated one already held (replays): ignored, counted. */
  duplicates: number;
  /** Requests that reuse an id with different content: refused, for the dead-letter topic. */
  conflicts: RequestLog[];
  corrections: number;
  maxConservationError: number;
}

export const emptyEmissions = (): Emissions => ({
  requests: [],
  ledger: [],
  late: [],
  duplicates: 0,
  conflicts: [],
  corrections: 0,
  maxConservationError: 0,
});

interface DeviceState {
  role: Role;
  device: string;
  /** Time-sorted; counters and readings kept apart, counters preferred when both exist. */
  counters: PowerSample[];
  readings: PowerSample[];
  learner: IdleLearner | null;
}

interface StreamState {
  maxEventMs: number;
  lastWallMs: number;
}

const sameRequest = (a: RequestLog, b: RequestLog): boolean =>
  a.host === b.host &&
  a.tStartMs === b.tStartMs &&
  a.tEndMs === b.tEndMs &&
  a.tFirstTokenMs === b.tFirstTokenMs &&
  a.promptTokens === b.promptTokens &&
  a.completionTokens === b.completionTokens &&
  a.model === b.model &&
  a.tenant === b.tenant &&
  a.status === b.status &&
  a.gpus.length === b.gpus.length &&
  a.gpus.every((g, i) => g === b.gpus[i]);

/** Index of the first sample at or after tMs in a time-sorted list. */
function firstSampleAtOrAfter(list: readonly PowerSample[], tMs: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.tMs < tMs) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function insertSorted(list: PowerSample[], s: PowerSample): boolean {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.tMs <= s.tMs) lo = mid + 1;
    else hi = mid;
  }
  const prev = list[lo - 1];
  if (prev && prev.tMs === s.tMs) return false; // same device, same instant: a replay
  list.splice(lo, 0, s);
  return true;
}

export class HostJoiner {
  private readonly devices = new Map<string, DeviceState>();
  private readonly requests = new Map<string, RequestLog>();
  /** Window start -> ids of requests whose span overlaps the window. */
  private readonly windowRequests = new Map<number, Set<string>>();
  /**
   * Closed windows still correctable, with how often each was re-attributed (diagnostics only: row
   * versions come from versionOf, decision record 0011).
   */
  private readonly revisions = new Map<number, number>();
  private readonly cache = new Map<number, WindowAttribution>();
  /**
   * Per window, the last window of any request that spans it: a request's row is assembled from the
   * cached attributions of all its windows when its last one closes, so a window's attribution is
   * needed until then and can be dropped after (a correction recomputes it anyway). The heap
   * snapshot of a joiner showed the cache at 41 % of its state when it kept the newest 256 windows.
   */
  private readonly neededUntil = new Map<number, number>();
  /** Closed windows that late records changed, re-attributed at the next advance. */
  private readonly dirty = new Set<number>();
  private readonly powerSources = new Map<string, StreamState>();
  private readonly streams: Record<'requests', StreamState> = {
    requests: { maxEventMs: Number.NEGATIVE_INFINITY, lastWallMs: Number.NEGATIVE_INFINITY },
  };
  /** Power progress per source (nvml, rapl, bmc, ...): collectors deliver at their own pace. */
  /** Start of the first window not yet closed; NaN until the host's first record. */
  private nextOpenMs = Number.NaN;
  private firstWindowMs = Number.NaN;
  private evictedTo = Number.NEGATIVE_INFINITY;
  private readonly idleFlags = new Map<number, string[]>();
  /**
   * Window versions computed during one advance, which changes no sample or request before its final
   * eviction: a request row sums the versions of every window it spans, and overlapping requests
   * asked for the same windows over and over (it showed in the profile).
   */
  private versions: Map<number, number> | null = null;
  private readonly facility: Facility;
  private firstWallMs = Number.NaN;
  /** Receives one observation per clean accelerator device-window as it closes (fit-kappa). */
  kappaSink: ((o: KappaObservation) => void) | null = null;

  constructor(
    readonly spec: HostSpec,
    private readonly fleet: Fleet,
    private readonly settings: JoinerSettings,
  ) {
    const facility = fleet.facilities.get(spec.facility);
    if (!facility) throw new Error(`host ${spec.id} names facility ${spec.facility}, which the fleet lacks`);
    this.facility = facility;
    // Every GPU the host declares is a device even before (or without) samples: a silent GPU is
    // estimated at idle power rather than silently costing nothing.
    for (let g = 0; g < spec.gpuCount; g++) this.device('accelerator', String(g));
  }

  private get w(): number {
    return this.settings.windowMs;
  }

  private windowOf(tMs: number): number {
    return Math.floor(tMs / this.w) * this.w;
  }

  /** Window starts covered by [t0, t1); an instant request covers the window it falls in. */
  private windowsOf(t0: number, t1: number): number[] {
    const first = this.windowOf(t0);
    const last = t1 > t0 ? this.windowOf(t1 - 1) : first;
    const out: number[] = [];
    for (let w = first; w <= last; w += this.w) out.push(w);
    return out;
  }

  private device(role: Role, device: string): DeviceState {
    const key = deviceKey(role, device);
    let d = this.devices.get(key);
    if (!d) {
      d = {
        role,
        device,
        counters: [],
        readings: [],
        learner:
          this.settings.idleSource === 'learned' ? new IdleLearner({ percentile: 5, minMinutes: 60 }) : null,
      };
      this.devices.set(key, d);
    }
    return d;
  }

  private start(tMs: number, nowMs: number): void {
    const w = this.windowOf(tMs);
    if (Number.isNaN(this.nextOpenMs)) {
      this.nextOpenMs = w;
      this.firstWindowMs = w;
      this.firstWallMs = nowMs;
      return;
    }
    if (w >= this.firstWindowMs) return;
    if (this.revisions.size === 0) {
      // Nothing closed yet: the streams deliver a host's records in any order, so the first
      // window is the earliest time seen, not the time of whichever record came first.
      this.nextOpenMs = w;
      this.firstWindowMs = w;
      return;
    }
    // Windows already closed after it: extend the host's range back (within the horizon); the
    // caller re-attributes the new windows as a correction, so arrival order does not matter.
    this.firstWindowMs = Math.max(w, this.horizonStartMs);
  }

  /** Oldest window start still correctable. */
  private get horizonStartMs(): number {
    return this.nextOpenMs - Math.ceil(this.settings.horizonMs / this.w) * this.w;
  }

  addRequest(r: RequestLog, nowMs: number, out: Emissions): void {
    this.start(r.tStartMs, nowMs);
    const seen = this.requests.get(r.requestId);
    if (seen) {
      if (sameRequest(seen, r)) out.duplicates++;
      else out.conflicts.push(r);
      return;
    }
    if (r.tStartMs < this.horizonStartMs) {
      out.late.push({ kind: 'request', record: r, reason: 'request starts before the correction horizon' });
      return;
    }
    this.streams.requests.maxEventMs = Math.max(this.streams.requests.maxEventMs, r.tEndMs);
    this.streams.requests.lastWallMs = nowMs;
    this.requests.set(r.requestId, r);
    const closed: number[] = [];
    const last = this.lastWindow(r);
    for (const w of this.windowsOf(r.tStartMs, r.tEndMs)) {
      let set = this.windowRequests.get(w);
      if (!set) this.windowRequests.set(w, (set = new Set()));
      set.add(r.requestId);
      if (last > (this.neededUntil.get(w) ?? Number.NEGATIVE_INFINITY)) this.neededUntil.set(w, last);
      if (w < this.nextOpenMs) closed.push(w);
    }
    for (const w of closed) this.dirty.add(w);
  }

  addPower(s: PowerSample, nowMs: number, out: Emissions): void {
    this.start(s.kind === 'reading' ? s.tMs - s.averagingMs : s.tMs, nowMs);
    if (s.tMs < this.horizonStartMs) {
      out.late.push({ kind: 'power', record: s, reason: 'sample is older than the correction horizon' });
      return;
    }
    const d = this.device(s.role, s.device);
    const list = s.kind === 'counter' ? d.counters : d.readings;
    if (!insertSorted(list, s)) {
      out.duplicates++;
      return;
    }
    const src = this.powerSource(s.source ?? '');
    src.maxEventMs = Math.max(src.maxEventMs, s.tMs);
    src.lastWallMs = nowMs;
    if (s.tMs < this.nextOpenMs + this.w) {
      // A sample for an already closed window: the intervals it bounds change, so every closed window
      // between its neighbours (plus the gap rules' reach) is recomputed.
      const idx = list.indexOf(s);
      const from = (list[idx - 1]?.tMs ?? s.tMs) - this.settings.gaps.maxHoldMs;
      const to = (list[idx + 1]?.tMs ?? s.tMs) + this.settings.gaps.maxHoldMs;
      const affected: number[] = [];
      const first = Math.max(this.windowOf(from), this.horizonStartMs, this.firstWindowMs);
      for (let w = first; w < this.nextOpenMs && w <= to; w += this.w) affected.push(w);
      for (const w of affected) this.dirty.add(w);
    }
  }

  /**
   * A power heartbeat vouches for its own source only (decision record 0009): a fast GPU collector
   * must not declare a slower RAPL or BMC collector complete. Without a source it covers them all.
   */
  addHeartbeat(hb: Heartbeat, nowMs: number): void {
    this.start(hb.tMs, nowMs);
    const targets =
      hb.stream === 'requests'
        ? [this.streams.requests]
        : hb.source
          ? [this.powerSource(hb.source)]
          : [this.powerSource(''), ...this.powerSources.values()];
    for (const st of targets) {
      st.maxEventMs = Math.max(st.maxEventMs, hb.tMs);
      st.lastWallMs = nowMs;
    }
  }

  private powerSource(name: string): StreamState {
    let st = this.powerSources.get(name);
    if (!st) this.powerSources.set(name, (st = { maxEventMs: Number.NEGATIVE_INFINITY, lastWallMs: NaN }));
    return st;
  }

  /**
   * The host's watermark: the minimum over the request stream and every power source heard from,
   * leaving out those silent (wall clock) past the idle timeout; and which streams were left out.
   */
  watermark(nowMs: number): { wmMs: number; idle: Stream[] } {
    const live: number[] = [];
    const idle = new Set<Stream>();
    const all: number[] = [];
    const consider = (name: Stream, st: StreamState): void => {
      const lastHeard = Number.isFinite(st.lastWallMs) ? st.lastWallMs : this.firstWallMs;
      const wm = st.maxEventMs - this.settings.outOfOrdernessMs;
      if (Number.isFinite(wm)) all.push(wm);
      if (nowMs - lastHeard > this.settings.idleTimeoutMs) idle.add(name);
      else live.push(wm);
    };
    consider('requests', this.streams.requests);
    // A source-less entry only stands for the stream while no named source has spoken.
    const sources = [...this.powerSources].filter(([k]) => k !== '' || this.powerSources.size === 1);
    if (sources.length === 0) consider('power', { maxEventMs: Number.NEGATIVE_INFINITY, lastWallMs: NaN });
    for (const [, st] of sources) consider('power', st);
    if (live.length === 0)
      return { wmMs: all.length ? Math.max(...all) : Number.NEGATIVE_INFINITY, idle: [...idle] };
    return { wmMs: Math.min(...live), idle: [...idle] };
  }

  /** Closes every window the watermark has passed, then forgets state older than the horizon. */
  advance(nowMs: number, out: Emissions): void {
    if (Number.isNaN(this.nextOpenMs)) return;
    this.versions = new Map();
    try {
      this.advanceWindows(nowMs, out);
    } finally {
      this.versions = null;
    }
  }

  private advanceWindows(nowMs: number, out: Emissions): void {
    if (this.dirty.size > 0) {
      // Late records mark closed windows dirty; each is re-attributed once per advance, however
      // many records touched it, so a burst of late samples costs one correction, not thousands.
      const horizon = this.horizonStartMs;
      const windows = [...this.dirty]
        .filter((w) => w >= horizon && w < this.nextOpenMs)
        .sort((a, b) => a - b);
      this.dirty.clear();
      if (windows.length > 0) this.correct(windows, out);
    }
    const { wmMs, idle } = this.watermark(nowMs);
    const closing: number[] = [];
    while (this.nextOpenMs + this.w + this.settings.allowedLatenessMs <= wmMs) {
      closing.push(this.nextOpenMs);
      if (idle.length > 0)
        this.idleFlags.set(
          this.nextOpenMs,
          idle.map((s) => `${s}-idle`),
        );
      this.nextOpenMs += this.w;
    }
    if (closing.length === 0) return;
    const toEmit = new Set<string>();
    for (const w of closing) {
      this.revisions.set(w, 1);
      const att = this.attribution(w);
      out.ledger.push(...this.ledgerRows(w, att));
      out.maxConservationError = Math.max(out.maxConservationError, att.conservationError);
      this.learnIdle(w);
      for (const id of this.windowRequests.get(w) ?? []) {
        const r = this.requests.get(id);
        if (r && this.lastWindow(r) === w) toEmit.add(id);
      }
    }
    for (const id of toEmit) out.requests.push(this.requestRow(this.requests.get(id)!));
    for (const w of this.cache.keys())
      if (w < this.nextOpenMs && (this.neededUntil.get(w) ?? Number.NEGATIVE_INFINITY) < this.nextOpenMs)
        this.cache.delete(w);
    this.evict();
  }

  /** Re-attributes closed windows after a late record and re-emits every row they feed. */
  private correct(windows: number[], out: Emissions): void {
    const toEmit = new Set<string>();
    for (const w of windows) {
      this.revisions.set(w, (this.revisions.get(w) ?? 0) + 1);
      this.cache.delete(w);
      const att = this.attribution(w);
      out.ledger.push(...this.ledgerRows(w, att));
      out.maxConservationError = Math.max(out.maxConservationError, att.conservationError);
      for (const id of this.windowRequests.get(w) ?? []) toEmit.add(id);
    }
    out.corrections += windows.length;
    for (const id of toEmit) {
      const r = this.requests.get(id);
      if (r && this.lastWindow(r) < this.nextOpenMs) out.requests.push(this.requestRow(r));
    }
  }

  private lastWindow(r: RequestLog): number {
    return r.tEndMs > r.tStartMs ? this.windowOf(r.tEndMs - 1) : this.windowOf(r.tStartMs);
  }

  private modelFor(role: Role | 'rest') {
    const id = this.spec.models[role];
    return id ? this.fleet.models.get(id) : undefined;
  }

  private deviceWindows(w: number): DeviceWindow[] {
    const out: DeviceWindow[] = [];
    for (const d of this.devices.values()) {
      const model = this.modelFor(d.role === 'node' ? 'rest' : d.role);
      const samples = d.counters.length > 0 ? d.counters : d.readings;
      const maxW = (model?.maxW ?? 2000) * 1.5;
      const catalogIdle = model?.idleW ?? 0;
      const idlePowerW = d.learner?.idleW() ?? catalogIdle;
      const { energyJ, estimatedJ } = integrateWindow(
        toIntervals(this.samplesNear(samples, w), maxW),
        w,
        w + this.w,
        this.settings.gaps,
        idlePowerW,
      );
      out.push({
        role: d.role,
        device: d.device,
        energyJ,
        estimatedJ,
        idlePowerW,
        embodiedGPerMs: embodiedGPerMs(model),
        ...(model ? { maxPowerW: model.maxW } : {}),
      });
    }
    return out;
  }

  /**
   * The samples that can influence window w: those inside it, three before (the interval ending
   * before a gap, even across a counter reset) and two after (the interval that ends a gap), never
   * beyond the gap rules' reach. Slicing keeps a window's cost independent of the sampling rate.
   */
  private samplesNear(samples: PowerSample[], w: number): PowerSample[] {
    const reach = Math.max(this.settings.gaps.maxGapMs, this.settings.gaps.maxHoldMs) + this.w;
    const firstAtOrAfter = (tMs: number): number => firstSampleAtOrAfter(samples, tMs);
    const inside = firstAtOrAfter(w);
    const start = Math.max(0, firstAtOrAfter(w - reach) - 1, inside - 3);
    const after = firstAtOrAfter(w + this.w);
    const end = Math.min(samples.length, firstAtOrAfter(w + this.w + reach) + 1, after + 2);
    return samples.slice(start, end);
  }

  private windowRequestList(w: number): RequestLog[] {
    const ids = this.windowRequests.get(w);
    const reqs: RequestLog[] = [];
    if (ids) for (const id of ids) reqs.push(this.requests.get(id)!);
    // Sorted so that floating-point sums do not depend on arrival order (invariant 2).
    reqs.sort((a, b) => (a.requestId < b.requestId ? -1 : a.requestId > b.requestId ? 1 : 0));
    return reqs;
  }

  private attribution(w: number): WindowAttribution {
    const cached = this.cache.get(w);
    if (cached) return cached;
    const reqs = this.windowRequestList(w);
    const att = attributeWindow(
      w,
      w + this.w,
      this.deviceWindows(w),
      reqs,
      factorsAt(this.fleet, this.facility, w),
      {
        idlePolicy: this.settings.idlePolicy,
        shareModel: this.settings.shareModel,
        kappaOf: (m) => this.settings.kappaByModel[m] ?? this.settings.defaultKappa,
      },
    );
    this.cache.set(w, att);
    if (this.cache.size > this.settings.attributionCacheWindows) {
      this.cache.delete(this.cache.keys().next().value!);
    }
    return att;
  }

  private learnIdle(w: number): void {
    if (this.settings.idleSource !== 'learned') return;
    const windows = this.deviceWindows(w);
    for (const dw of windows) {
      const d = this.devices.get(deviceKey(dw.role, dw.device));
      // Estimated energy is our own guess; learning from it would feed the guess back into itself.
      if (d?.learner && dw.estimatedJ === 0) d.learner.observe(w, this.w, dw.energyJ);
    }
  }

  private ledgerRows(w: number, att: WindowAttribution): LedgerRow[] {
    const version = this.versionOf(w);
    const flags = this.idleFlags.get(w) ?? [];
    const active = this.windowRequests.get(w)?.size ?? 0;
    return att.ledger.map((e) => ({
      ...e,
      host: this.spec.id,
      facility: this.facility.id,
      windowStartMs: w,
      windowMs: this.w,
      activeRequests: active,
      flags: e.estimatedJ > 0 ? [...flags, 'estimated'] : flags,
      version,
      methodVersion: METHOD_VERSION,
    }));
  }

  private requestRow(r: RequestLog): RequestRow {
    const total = emptyContribution();
    let version = 0;
    let series = 0;
    let annual = 0;
    const flags = new Set<string>();
    for (const w of this.windowsOf(r.tStartMs, r.tEndMs)) {
      if (this.revisions.has(w)) version += this.versionOf(w);
      for (const f of this.idleFlags.get(w) ?? []) flags.add(f);
      const c: Contribution | undefined = this.attribution(w).contributions.get(r.requestId);
      if (!c) continue;
      addContribution(total, c);
      if (c.fromSeries) series++;
      else annual++;
    }
    if (total.estimatedJ > 0) flags.add('estimated');
    return {
      requestId: r.requestId,
      host: r.host,
      facility: this.facility.id,
      region: this.facility.region,
      zone: this.facility.zone,
      model: r.model,
      tenant: r.tenant,
      status: r.status,
      gpus: r.gpus,
      tStartMs: r.tStartMs,
      tEndMs: r.tEndMs,
      promptTokens: r.promptTokens ?? 0,
      completionTokens: r.completionTokens ?? 0,
      traceId: r.traceId ?? '',
      conversationId: r.conversationId ?? '',
      agentName: r.agentName ?? '',
      acceleratorDynamicJ: total.acceleratorDynamicJ,
      acceleratorIdleJ: total.acceleratorIdleJ,
      hostDynamicJ: total.hostDynamicJ,
      hostIdleJ: total.hostIdleJ,
      itJ: total.itJ,
      overheadJ: total.overheadJ,
      facilityJ: total.itJ + total.overheadJ,
      estimatedJ: total.estimatedJ,
      embodiedG: total.embodiedG,
      co2eLocationG: total.co2eLocationG,
      co2eMarketG: total.co2eMarketG,
      waterL: total.waterL,
      ciSource: series > 0 && annual > 0 ? 'mixed' : series > 0 ? 'series' : 'annual',
      shareModel: RANK_MODEL[total.modelRank]!,
      flags: [...flags].sort(),
      version: Math.max(version, 1),
      methodVersion: METHOD_VERSION,
    };
  }

  /** Drops what no correction can need any more: windows, requests and samples behind the horizon. */
  private evict(): void {
    const horizon = this.horizonStartMs;
    if (horizon <= this.evictedTo) return;
    this.evictedTo = horizon;
    if (this.firstWindowMs < horizon) this.firstWindowMs = horizon;
    // Not in key order: windows added by backward extension come after later ones.
    const gone = [...this.revisions.keys()].filter((w) => w < horizon);
    // Final now: no correction can change them, so they are fair observations for fit-kappa.
    if (this.kappaSink) for (const w of gone.sort((a, b) => a - b)) this.observe(w);
    for (const w of gone) {
      this.revisions.delete(w);
      this.cache.delete(w);
      this.neededUntil.delete(w);
      this.idleFlags.delete(w);
      const ids = this.windowRequests.get(w);
      this.windowRequests.delete(w);
      if (ids)
        for (const id of ids) {
          const r = this.requests.get(id);
          if (r && this.lastWindow(r) < horizon) this.requests.delete(id);
        }
    }
    const keepFrom = horizon - Math.max(this.settings.gaps.maxGapMs, this.settings.gaps.maxHoldMs) - this.w;
    for (const d of this.devices.values()) {
      for (const list of [d.counters, d.readings]) {
        let cut = 0;
        while (cut < list.length - 1 && list[cut + 1]!.tMs < keepFrom) cut++;
        if (cut > 0) list.splice(0, cut);
      }
    }
  }

  private observe(w: number): void {
    if (!this.kappaSink) return;
    for (const o of kappaObservations(w, w + this.w, this.deviceWindows(w), this.windowRequestList(w)))
      this.kappaSink(o);
  }

  /** Hands fit-kappa the closed windows still inside the horizon (the end of a replay). */
  observeRemaining(): void {
    for (const w of [...this.revisions.keys()].sort((a, b) => a - b)) this.observe(w);
  }

  /**
   * A window's version is the number of distinct records behind it: its requests and every power
   * sample from the gap rules' reach before it up to its end (decision record 0011). It depends only
   * on which records exist, not on when they arrived; a correction always adds one, so versions
   * only grow; a replay that re-reads the same records after a restart or a rebalance reproduces
   * the same number, so its rows tie with what is stored; a rebuild that lacks records has a lower
   * version and cannot replace the complete row.
   */
  private versionOf(w: number): number {
    const known = this.versions?.get(w);
    if (known !== undefined) return known;
    const reach = Math.max(this.settings.gaps.maxGapMs, this.settings.gaps.maxHoldMs) + this.w;
    const from = w - reach;
    const to = w + this.w;
    let n = this.windowRequests.get(w)?.size ?? 0;
    const countIn = (list: PowerSample[]): number =>
      firstSampleAtOrAfter(list, to + 1) - firstSampleAtOrAfter(list, from);
    for (const d of this.devices.values()) n += countIn(d.counters) + countIn(d.readings);
    this.versions?.set(w, n);
    return n;
  }

  /** Approximate retained state, for the state-bound metric and the docs' per-host figure. */
  stateBytes(): number {
    let samples = 0;
    for (const d of this.devices.values()) samples += d.counters.length + d.readings.length;
    let memberships = 0;
    for (const s of this.windowRequests.values()) memberships += s.size;
    const learners = [...this.devices.values()].filter((d) => d.learner).length;
    // Cached attributions: a contribution holds nine numbers, each boxed on V8's heap (~270 B in a
    // heap snapshot); a ledger entry ~180 B.
    let cached = 0;
    for (const att of this.cache.values()) cached += att.contributions.size * 270 + att.ledger.length * 180;
    return (
      samples * 120 +
      this.requests.size * 400 +
      memberships * 40 +
      (this.revisions.size + this.neededUntil.size) * 60 +
      cached +
      learners * IdleLearner.BYTES
    );
  }

  /** Windows with requests: still open (not yet attributed), and held for corrections (all). */
  windowCounts(): { open: number; held: number } {
    let open = 0;
    for (const w of this.windowRequests.keys()) if (w >= this.nextOpenMs) open++;
    return { open, held: this.windowRequests.size };
  }

  openWindowStartMs(): number {
    return this.nextOpenMs;
  }
}
