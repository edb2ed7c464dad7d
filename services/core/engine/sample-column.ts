// One device's samples of one kind, time-sorted, in three parallel Float64Arrays (time, value, aux)
// instead of an object per sample: 24 bytes a sample instead of ~120 on V8's heap, and no garbage per
// sample on the ingest path (issue 16). Objects are made only for the few samples a window reads.

import { DEFAULT_AVERAGING_MS, type PowerSample, type Role } from '../types.ts';

const INITIAL_CAPACITY = 16;

export class SampleColumn {
  private tMs = new Float64Array(INITIAL_CAPACITY);
  /** Counters: energyJ; readings: powerW. */
  private value = new Float64Array(INITIAL_CAPACITY);
  /** Counters: rangeJ (NaN for none declared); readings: averagingMs. */
  private aux = new Float64Array(INITIAL_CAPACITY);
  /** Live samples sit in [start, end): eviction moves start, so it costs no copy. */
  private start = 0;
  private end = 0;

  constructor(readonly kind: 'counter' | 'reading') {}

  get length(): number {
    return this.end - this.start;
  }

  timeAt(i: number): number {
    return this.tMs[this.start + i]!;
  }

  /** Index of the first sample at or after tMs. */
  firstAtOrAfter(tMs: number): number {
    let lo = this.start;
    let hi = this.end;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.tMs[mid]! < tMs) lo = mid + 1;
      else hi = mid;
    }
    return lo - this.start;
  }

  /** Inserts in time order; -1 (and no change) when the column already has a sample at that instant. */
  insert(tMs: number, value: number, aux: number): number {
    let lo = this.start;
    let hi = this.end;
    // Samples mostly arrive in order: check the tail before searching.
    if (hi > lo && this.tMs[hi - 1]! < tMs) lo = hi;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.tMs[mid]! <= tMs) lo = mid + 1;
      else hi = mid;
    }
    if (lo > this.start && this.tMs[lo - 1] === tMs) return -1; // same device, same instant: a replay
    if (this.end === this.tMs.length) lo = this.makeRoom(lo);
    if (lo < this.end) {
      this.tMs.copyWithin(lo + 1, lo, this.end);
      this.value.copyWithin(lo + 1, lo, this.end);
      this.aux.copyWithin(lo + 1, lo, this.end);
    }
    this.tMs[lo] = tMs;
    this.value[lo] = value;
    this.aux[lo] = aux;
    this.end++;
    return lo - this.start;
  }

  /** Forgets the first n samples. */
  dropFront(n: number): void {
    this.start = Math.min(this.end, this.start + n);
    if (this.start === this.end) this.start = this.end = 0;
  }

  /** Samples [from, to) as the integrator takes them; only the few a window needs are ever made. */
  slice(from: number, to: number, host: string, role: Role, device: string): PowerSample[] {
    const out: PowerSample[] = [];
    for (let i = this.start + from; i < this.start + to; i++)
      out.push(this.sampleAtRaw(i, host, role, device));
    return out;
  }

  sampleAt(i: number, host: string, role: Role, device: string): PowerSample {
    return this.sampleAtRaw(this.start + i, host, role, device);
  }

  /** Bytes the arrays hold (capacity, not just live samples). */
  bytes(): number {
    return this.tMs.byteLength * 3;
  }

  private sampleAtRaw(i: number, host: string, role: Role, device: string): PowerSample {
    const tMs = this.tMs[i]!;
    const aux = this.aux[i]!;
    if (this.kind === 'counter')
      return {
        kind: 'counter',
        host,
        role,
        device,
        tMs,
        energyJ: this.value[i]!,
        rangeJ: Number.isNaN(aux) ? null : aux,
      };
    return { kind: 'reading', host, role, device, tMs, powerW: this.value[i]!, averagingMs: aux };
  }

  /** Frees a slot at the end: slides live samples to the front, or doubles. Returns lo's new index. */
  private makeRoom(lo: number): number {
    const n = this.length;
    const cap = this.tMs.length;
    // Slide in place while a quarter is free: a column in steady state (evicting at the front as
    // fast as it appends) then keeps its capacity, where doubling at half full made it 3.5x its
    // samples at 10 Hz (9,300 live in 32,768 slots).
    const next = n > (cap * 3) / 4 ? cap * 2 : cap;
    const move = (a: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> => {
      if (next === cap) {
        a.copyWithin(0, this.start, this.end);
        return a;
      }
      const b = new Float64Array(next);
      b.set(a.subarray(this.start, this.end));
      return b;
    };
    this.tMs = move(this.tMs);
    this.value = move(this.value);
    this.aux = move(this.aux);
    const shifted = lo - this.start;
    this.start = 0;
    this.end = n;
    return shifted;
  }
}

/** The aux slot of a sample: rangeJ for counters (NaN for none), averagingMs for readings. */
export function auxOf(
  kind: 'counter' | 'reading',
  rangeJ: number | null,
  averagingMs: number | null,
): number {
  if (kind === 'counter') return rangeJ ?? Number.NaN;
  return averagingMs ?? DEFAULT_AVERAGING_MS;
}
