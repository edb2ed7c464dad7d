// The real clock, for the joiner's Clock port: adapters are where the wall clock is read.
import type { Clock } from '../joiner/clock.ts';

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  every(ms, fn) {
    const timer = setInterval(fn, ms);
    return () => clearInterval(timer);
  },
};
