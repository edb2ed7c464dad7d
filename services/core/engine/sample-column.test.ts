// The typed-array sample column against a plain sorted list: same samples, same order, same
// replays refused, whatever the arrival order, growth and eviction in between.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SampleColumn } from './sample-column.ts';

test('a column holds what a sorted list of unique instants would, in any arrival order (property)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 500 }), fc.double({ noNaN: true })), { maxLength: 300 }),
      fc.array(fc.nat({ max: 40 }), { maxLength: 10 }),
      (arrivals, drops) => {
        const col = new SampleColumn('counter');
        let model: { t: number; v: number }[] = [];
        arrivals.forEach(([t, v], i) => {
          const at = col.insert(t, v, Number.NaN);
          const seen = model.some((m) => m.t === t);
          assert.equal(at < 0, seen, `replay of ${t}`);
          if (!seen) {
            model.push({ t, v });
            model.sort((a, b) => a.t - b.t);
            assert.equal(model[at]!.t, t, 'index of the inserted sample');
          }
          // Evict now and then, as retention does between arrivals.
          const n = drops[i % Math.max(1, drops.length)] ?? 0;
          if (i % 37 === 36) {
            col.dropFront(n);
            model = model.slice(Math.min(n, model.length));
          }
        });
        assert.equal(col.length, model.length);
        const got = col.slice(0, col.length, 'h', 'accelerator', '0');
        assert.deepEqual(
          got.map((s) => [s.tMs, s.kind === 'counter' ? s.energyJ : NaN, s.kind === 'counter' && s.rangeJ]),
          model.map((m) => [m.t, m.v, null]),
        );
        for (const probe of [-1, 0, 250, 501])
          assert.equal(col.firstAtOrAfter(probe), model.filter((m) => m.t < probe).length);
      },
    ),
  );
});

test('readings keep their averaging interval; bytes follow capacity, not the samples ever seen', () => {
  const col = new SampleColumn('reading');
  for (let t = 0; t < 10_000; t++) {
    col.insert(t, t % 700, 100);
    if (col.length > 1000) col.dropFront(500);
  }
  const [s] = col.slice(0, 1, 'h', 'accelerator', '3');
  assert.deepEqual(s, {
    kind: 'reading',
    host: 'h',
    role: 'accelerator',
    device: '3',
    tMs: col.timeAt(0),
    powerW: col.timeAt(0) % 700,
    averagingMs: 100,
  });
  // At most 1,000 live samples: the arrays slide instead of growing without bound.
  assert.ok(col.bytes() <= 2048 * 24, `${col.bytes()} bytes`);
});
