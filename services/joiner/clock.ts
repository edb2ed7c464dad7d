// The joiner's one clock: every wait, deadline and timestamp of the joiner's logic goes through it,
// so tests can drive time and nothing in the logic reads Date.now() behind their back.

export interface Clock {
  nowMs(): number;
  sleep(ms: number): Promise<void>;
  /** Calls fn every ms until the returned function is called. */
  every(ms: number, fn: () => void): () => void;
}
