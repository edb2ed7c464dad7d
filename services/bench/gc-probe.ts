// Loaded into a joiner by the memory benchmark (node --expose-gc --import tsx --import this file).
// Peak heap counts garbage and batches in flight; the live state is what is left after a full GC.
// Every JOULESTREAM_BENCH_GC_EVERY_MS this forces one and appends heap and RSS as a JSON line to
// JOULESTREAM_BENCH_GC_FILE. Readings come once a second for the first 5 s, so the idle joiner (after
// start-up, before its first record) gives the baseline.
import { appendFileSync } from 'node:fs';

const gc = (globalThis as { gc?: () => void }).gc;
const file = process.env.JOULESTREAM_BENCH_GC_FILE;
if (!gc || !file) throw new Error('gc-probe needs node --expose-gc and JOULESTREAM_BENCH_GC_FILE');
const every = Number(process.env.JOULESTREAM_BENCH_GC_EVERY_MS ?? 10_000);
const started = Date.now();

function sample(): void {
  const t = Date.now();
  gc!();
  const m = process.memoryUsage();
  const line = { tMs: t, gcMs: Date.now() - t, heapUsed: m.heapUsed, rss: m.rss, external: m.external };
  appendFileSync(file!, JSON.stringify(line) + '\n');
  setTimeout(sample, Date.now() - started < 5000 ? 1000 : every).unref();
}
setTimeout(sample, 1000).unref();

// SIGUSR2 writes a heap snapshot next to the readings, for finding what the live heap holds.
process.on('SIGUSR2', () => {
  void import('node:v8').then((m) => m.writeHeapSnapshot(`${file}.heapsnapshot`));
});
