// The per-host event-time engine: aligns requests and power samples, closes windows behind the
// watermark, attributes them, and re-attributes closed windows when late records arrive within the
// correction horizon. Pure: the caller passes the injected clock's time in and ships the rows out.
// The rules live beside it, one per file: windows (assigner), watermarks (trigger), retention
// (evictor and the commit point's bound), versions, rows; this facade only sequences them.

import { attributeWindow, type DeviceWindow, type WindowAttribution } from '../attribute.ts';
import { FleetError } from '../errors.ts';
import { embodiedGPerMs, factorsAt, type Facility, type Fleet, type HostSpec } from '../fleet.ts';
import { integrateWindow, toIntervals } from '../integrate.ts';
import type { KappaSchedule } from '../kappa-calibration.ts';
import { kappaObservations, type KappaObservation } from '../kappa-fit.ts';
import {
  deviceKey,
  type Heartbeat,
  type PowerFrame,
  type PowerSample,
  type RequestLog,
  type Role,
} from '../types.ts';
import type { EngineSettings, Emissions } from './emissions.ts';
import { kappaBandFor, kappaFor, withPhases } from './kappa-lookup.ts';
import { RequestIndex } from './request-index.ts';
import { changedWindowsFromMs, horizonStartMs, lastWindowStartMs, neededFromMs } from './retention.ts';
import { ledgerRows, requestRow, type WindowView } from './rows.ts';
import { auxOf } from './sample-column.ts';
import { SampleStore } from './sample-store.ts';
import { stateBytes } from './state-size.ts';
import { Versions } from './versions.ts';
import { Watermarks } from './watermarks.ts';
import { windowOf } from './windows.ts';

export class HostEngine {
  private readonly samples: SampleStore;
  private readonly index: RequestIndex;
  private readonly versions: Versions;
  private readonly marks: Watermarks;
  /**
   * Closed windows still correctable, with how often each was re-attributed (diagnostics only: row
   * versions come from Versions, decision record 0011).
   */
  private readonly revisions = new Map<number, number>();
  private readonly cache = new Map<number, WindowAttribution>();
  /** Closed windows that late records changed, re-attributed at the next advance. */
  private readonly dirty = new Set<number>();
  private readonly idleFlags = new Map<number, string[]>();
  /**
   * Windows that left the horizon while a request still held spans them: final now, kept with their
   * version and flags so that a correction of the request's later windows re-emits all of its energy
   * with a version above every earlier row of it (issue 13).
   */
  private readonly frozen = new Map<number, WindowView>();
  /** Start of the first window not yet closed; NaN until the host's first record. */
  private nextOpenMs = Number.NaN;
  private firstWindowMs = Number.NaN;
  private evictedTo = Number.NEGATIVE_INFINITY;
  private readonly facility: Facility;
  /** Receives one observation per clean accelerator device-window as it closes (fit-kappa). */
  kappaSink: ((o: KappaObservation) => void) | null = null;
  /** Online fits (decision record 0016); a fixed kappa of the model in the settings wins. */
  kappaSchedule: KappaSchedule | null = null;

  constructor(
    readonly spec: HostSpec,
    private readonly fleet: Fleet,
    private readonly settings: EngineSettings,
  ) {
    const facility = fleet.facilities.get(spec.facility);
    if (!facility)
      throw new FleetError(`host ${spec.id} names facility ${spec.facility}, which the fleet lacks`);
    this.facility = facility;
    this.samples = new SampleStore(spec.id, settings, settings.idleSource === 'learned');
    this.index = new RequestIndex(settings);
    this.versions = new Versions(settings, this.samples, this.index);
    this.marks = new Watermarks(settings);
    // Every GPU the host declares is a device even before (or without) samples: a silent GPU is
    // estimated at idle power rather than silently costing nothing.
    for (let g = 0; g < spec.gpuCount; g++) this.samples.device('accelerator', String(g));
  }

  private get w(): number {
    return this.settings.windowMs;
  }

  private start(tMs: number, nowMs: number): void {
    const w = windowOf(tMs, this.w);
    this.marks.heard(nowMs);
    if (Number.isNaN(this.nextOpenMs)) {
      this.nextOpenMs = w;
      this.firstWindowMs = w;
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
    return horizonStartMs(this.nextOpenMs, this.settings);
  }

  addRequest(r: RequestLog, nowMs: number, out: Emissions): void {
    this.start(r.tStartMs, nowMs);
    const seen = this.index.get(r.requestId);
    if (seen) {
      if (this.index.add(r) === 'duplicate') out.duplicates++;
      else out.conflicts.push(r);
      return;
    }
    if (r.tStartMs < this.horizonStartMs) {
      out.late.push({ kind: 'request', record: r, reason: 'request starts before the correction horizon' });
      return;
    }
    this.marks.request(r.tEndMs, nowMs);
    const spans = this.index.add(r) as number[];
    for (const w of spans) if (w < this.nextOpenMs) this.dirty.add(w);
  }

  addPower(s: PowerSample, nowMs: number, out: Emissions): void {
    const counter = s.kind === 'counter';
    this.addOne(
      s.role,
      s.device,
      s.kind,
      s.tMs,
      counter ? s.energyJ : s.powerW,
      counter ? auxOf('counter', s.rangeJ, null) : s.averagingMs,
      s.source ?? '',
      nowMs,
      out,
    );
  }

  /**
   * Adds every entry of a frame (validated by the caller) straight into the sample columns: no
   * PowerSample per device on the ingest path; one is made only when an entry goes to the late output.
   */
  addFrame(f: PowerFrame, nowMs: number, out: Emissions): void {
    for (const e of f.entries)
      this.addOne(
        e.role,
        e.device,
        e.kind,
        f.tMs,
        e.value,
        auxOf(e.kind, e.rangeJ, e.averagingMs),
        f.source,
        nowMs,
        out,
      );
  }

  /** One sample by its parts; `aux` is rangeJ (NaN for none) for counters, averagingMs for readings. */
  private addOne(
    role: Role,
    device: string,
    kind: 'counter' | 'reading',
    tMs: number,
    value: number,
    aux: number,
    source: string,
    nowMs: number,
    out: Emissions,
  ): void {
    this.start(kind === 'reading' ? tMs - aux : tMs, nowMs);
    if (tMs < this.horizonStartMs) {
      const record: PowerSample =
        kind === 'counter'
          ? {
              kind,
              host: this.spec.id,
              role,
              device,
              tMs,
              energyJ: value,
              rangeJ: Number.isNaN(aux) ? null : aux,
              source,
            }
          : { kind, host: this.spec.id, role, device, tMs, powerW: value, averagingMs: aux, source };
      out.late.push({ kind: 'power', record, reason: 'sample is older than the correction horizon' });
      return;
    }
    const added = this.samples.add(role, device, kind, tMs, value, aux);
    if (!added) {
      out.duplicates++;
      return;
    }
    this.marks.power(source, tMs, nowMs);
    if (tMs < this.nextOpenMs + this.w) {
      // A sample for an already closed window: the intervals it bounds change, so the closed
      // windows they reach are recomputed.
      const { fromMs, toMs } = changedWindowsFromMs(tMs, added.prevMs, added.nextMs, this.settings);
      const first = Math.max(windowOf(fromMs, this.w), this.horizonStartMs, this.firstWindowMs);
      for (let w = first; w < this.nextOpenMs && w <= toMs; w += this.w) this.dirty.add(w);
    }
  }

  addHeartbeat(hb: Heartbeat, nowMs: number): void {
    this.start(hb.tMs, nowMs);
    this.marks.heartbeat(hb, nowMs);
  }

  /** The host's watermark and idle streams (see Watermarks). */
  watermark(nowMs: number, caughtUpSinceMs: number | null = Number.NEGATIVE_INFINITY) {
    return this.marks.watermark(nowMs, caughtUpSinceMs);
  }

  /**
   * Closes every window the watermark has passed, then forgets what the retention rule lets go.
   * `nowMs` is the injected clock; `caughtUpSinceMs` says since when the host's partitions have had
   * no lag (null while they have; the default, always, suits feeds read as they happen).
   */
  advance(nowMs: number, out: Emissions, caughtUpSinceMs: number | null = Number.NEGATIVE_INFINITY): void {
    if (Number.isNaN(this.nextOpenMs)) return;
    this.versions.during(() => this.advanceWindows(nowMs, caughtUpSinceMs, out));
  }

  private advanceWindows(nowMs: number, caughtUpSinceMs: number | null, out: Emissions): void {
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
    const { wmMs, idle } = this.marks.watermark(nowMs, caughtUpSinceMs);
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
      this.emitLedger(w, out);
      this.learnIdle(w);
      for (const id of this.index.idsIn(w)) {
        const r = this.index.get(id);
        if (r && lastWindowStartMs(r, this.w) === w) toEmit.add(id);
      }
    }
    for (const id of toEmit) out.requests.push(this.requestRow(this.index.get(id)!));
    for (const w of this.cache.keys())
      if (w < this.nextOpenMs && this.index.lastSpanningWindow(w) < this.nextOpenMs) this.cache.delete(w);
    this.evict();
  }

  private emitLedger(w: number, out: Emissions): void {
    const att = this.attribution(w);
    const view = { att, version: this.versions.of(w), flags: this.idleFlags.get(w) ?? [] };
    out.ledger.push(...ledgerRows(this.spec.id, this.facility, w, this.w, view, this.index.countIn(w)));
    out.maxConservationError = Math.max(out.maxConservationError, att.conservationError);
  }

  /** Re-attributes closed windows after a late record and re-emits every row they feed. */
  private correct(windows: number[], out: Emissions): void {
    const toEmit = new Set<string>();
    for (const w of windows) {
      this.revisions.set(w, (this.revisions.get(w) ?? 0) + 1);
      this.cache.delete(w);
      this.emitLedger(w, out);
      for (const id of this.index.idsIn(w)) toEmit.add(id);
    }
    out.corrections += windows.length;
    for (const id of toEmit) {
      const r = this.index.get(id);
      if (r && lastWindowStartMs(r, this.w) < this.nextOpenMs) out.requests.push(this.requestRow(r));
    }
  }

  private kappaFor(model: string, w: number): number {
    return kappaFor(this.settings, this.kappaSchedule, model, w);
  }

  private withPhases(r: RequestLog): RequestLog {
    return withPhases(this.kappaSchedule, r, this.w);
  }

  private requestRow(r: RequestLog) {
    // A fit changes at an epoch boundary, rarely inside a request: the row names its last window's.
    const kappa = this.kappaFor(r.model, lastWindowStartMs(r, this.w));
    const row = requestRow(r, this.facility, this.w, kappa, (w) => {
      const fz = this.frozen.get(w);
      if (fz) return fz;
      const flags = this.idleFlags.get(w) ?? [];
      return { att: this.attribution(w), version: this.revisions.has(w) ? this.versions.of(w) : 0, flags };
    });
    if (this.withPhases(r) !== r) row.flags = [...row.flags, 'ttft-estimated'].sort();
    return row;
  }

  private modelFor(role: Role | 'rest') {
    const id = this.spec.models[role];
    return id ? this.fleet.models.get(id) : undefined;
  }

  private deviceWindows(w: number): DeviceWindow[] {
    const out: DeviceWindow[] = [];
    for (const d of this.samples.devices.values()) {
      const model = this.modelFor(d.role === 'node' ? 'rest' : d.role);
      const samples = d.counters.length > 0 ? d.counters : d.readings;
      const maxW = (model?.maxW ?? 2000) * 1.5;
      const idlePowerW = d.learner?.idleW() ?? model?.idleW ?? 0;
      const { energyJ, estimatedJ } = integrateWindow(
        toIntervals(this.samples.near(d, samples, w), maxW),
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

  private attribution(w: number): WindowAttribution {
    const cached = this.cache.get(w);
    if (cached) return cached;
    const att = attributeWindow(
      w,
      w + this.w,
      this.deviceWindows(w),
      this.index.requestsIn(w).map((r) => this.withPhases(r)),
      factorsAt(this.fleet, this.facility, w),
      {
        idlePolicy: this.settings.idlePolicy,
        shareModel: this.settings.shareModel,
        kappaOf: (m) => this.kappaFor(m, w),
        kappaBandOf: (m) => kappaBandFor(this.settings, this.kappaSchedule, m, w),
      },
    );
    this.cache.set(w, att);
    if (this.cache.size > this.settings.attributionCacheWindows)
      this.cache.delete(this.cache.keys().next().value!);
    return att;
  }

  private learnIdle(w: number): void {
    if (this.settings.idleSource !== 'learned') return;
    for (const dw of this.deviceWindows(w)) {
      const d = this.samples.devices.get(deviceKey(dw.role, dw.device));
      // Estimated energy is our own guess; learning from it would feed the guess back into itself.
      if (d?.learner && dw.estimatedJ === 0) d.learner.observe(w, this.w, dw.energyJ);
    }
  }

  /**
   * Drops what no correction can need any more (the retention rule): windows behind the horizon,
   * requests and samples whose needed-until fell behind it. A window a held request spans is frozen
   * first, so the request's row stays whole.
   */
  private evict(): void {
    const horizon = this.horizonStartMs;
    if (horizon <= this.evictedTo) return;
    this.evictedTo = horizon;
    if (this.firstWindowMs < horizon) this.firstWindowMs = horizon;
    // Not in key order: windows added by backward extension come after later ones.
    const gone = [...this.revisions.keys()].filter((w) => w < horizon).sort((a, b) => a - b);
    // Final now: no correction can change them, so they are fair observations for fit-kappa.
    if (this.kappaSink) for (const w of gone) this.observe(w);
    for (const w of gone) {
      const held = [...this.index.idsIn(w)].some((id) => this.index.isHeld(this.index.get(id)!, horizon));
      if (held)
        this.frozen.set(w, {
          att: this.attribution(w),
          version: this.versions.of(w),
          flags: this.idleFlags.get(w) ?? [],
        });
      this.revisions.delete(w);
      this.cache.delete(w);
      this.idleFlags.delete(w);
    }
    for (const w of this.frozen.keys())
      if (this.index.lastSpanningWindow(w) < horizon) {
        this.frozen.delete(w);
        this.index.forgetSpanning(w);
      }
    this.index.evict(gone, horizon, (w) => this.frozen.has(w));
    this.samples.evict(horizon);
  }

  private observe(w: number): void {
    if (!this.kappaSink) return;
    for (const o of kappaObservations(w, w + this.w, this.deviceWindows(w), this.index.requestsIn(w)))
      this.kappaSink(o);
  }

  /** Hands fit-kappa the closed windows still inside the horizon (the end of a replay). */
  observeRemaining(): void {
    for (const w of [...this.revisions.keys()].sort((a, b) => a - b)) this.observe(w);
  }

  /** Approximate retained state, for the state-bound metric and the docs' per-host figure. */
  stateBytes(): number {
    const sizes = this.index.sizes();
    return stateBytes({
      sampleBytes: this.samples.bytes(),
      requests: sizes.requests,
      memberships: sizes.memberships,
      windows: this.revisions.size + this.frozen.size + sizes.windows,
      cached: [...this.cache.values(), ...[...this.frozen.values()].map((f) => f.att)],
      learners: [...this.samples.devices.values()].filter((d) => d.learner).length,
    });
  }

  /** Windows with requests: still open (not yet attributed), and held for corrections (all). */
  windowCounts(): { open: number; held: number } {
    return this.index.windowCounts(this.nextOpenMs);
  }

  openWindowStartMs(): number {
    return this.nextOpenMs;
  }

  /** Where this host's needs begin (retention rule): the commit point keeps records needed from here. */
  neededFromMs(): number {
    return neededFromMs(this.horizonStartMs, this.index.oldestHeldStartMs(), this.w);
  }
}
