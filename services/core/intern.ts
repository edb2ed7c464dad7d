import type { RequestLog } from './types.ts';

/**
 * One shared copy of each repeated string: host, role, device, source, model, tenant, status.
 * Every decoded record carries fresh copies of the same few strings, and the engine keeps records
 * for the whole correction horizon, so without this each retained sample pays for its own copy of
 * "b-001" and "accelerator". Bounded: past `max` distinct values it stops adding, since a field such
 * as tenant has no natural limit.
 */
export class Interner {
  private readonly seen = new Map<string, string>();

  constructor(private readonly max = 100_000) {}

  get(s: string): string {
    const known = this.seen.get(s);
    if (known !== undefined) return known;
    if (this.seen.size < this.max) this.seen.set(s, s);
    return s;
  }

  get size(): number {
    return this.seen.size;
  }
}

/** Shares a request's repeated strings in place (the engine keeps the record for the horizon). */
export function shareRequestStrings(r: RequestLog, strings: Interner): void {
  r.host = strings.get(r.host);
  r.model = strings.get(r.model);
  r.tenant = strings.get(r.tenant);
  r.status = strings.get(r.status);
}
