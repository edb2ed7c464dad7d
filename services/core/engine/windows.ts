// The window assigner: tumbling event-time windows of windowMs, aligned to the epoch.

/** Start of the window that holds tMs. */
export const windowOf = (tMs: number, windowMs: number): number => Math.floor(tMs / windowMs) * windowMs;

/** Window starts covered by [t0, t1); an instant request covers the window it falls in. */
export function windowsOf(t0: number, t1: number, windowMs: number): number[] {
  const first = windowOf(t0, windowMs);
  const last = t1 > t0 ? windowOf(t1 - 1, windowMs) : first;
  const out: number[] = [];
  for (let w = first; w <= last; w += windowMs) out.push(w);
  return out;
}
