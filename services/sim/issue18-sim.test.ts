// The simulator's pieces for issue 18: per-accelerator engine profiles, agent runs and the synthetic
// grid day. Pure and fast; the invariants, not fixed numbers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { groupIntoRuns } from './agent-runs.ts';
import { llama70bTp4, llama8b, scheduleRequests, simulatePower } from './fleet-sim.ts';
import { hourlySeries } from './grid-day.ts';
import { ACCELERATOR_PROFILES, onAccelerator } from './hardware.ts';

const H100 = { idleW: 70, maxW: 700 };

test('a faster accelerator serves the same request sooner; energy per token scales by power / speedup', () => {
  const base = llama8b('h', 0);
  const b200 = onAccelerator(base, 'nvidia-b200-sxm-180gb', { idleW: 140, maxW: 1000 });
  const p = ACCELERATOR_PROFILES['nvidia-b200-sxm-180gb']!;
  assert.ok(b200.decodeMsPerToken < base.decodeMsPerToken);
  // Prefill joules per token: (W per 1k tok/s) / 1000, so the ratio is powerFactor / prefillSpeedup.
  assert.ok(
    Math.abs(b200.prefillWPerKTokS / base.prefillWPerKTokS - p.powerFactor / p.prefillSpeedup) < 1e-12,
  );
  assert.deepEqual(b200.gpu, { idleW: 140, maxW: 1000 });
  assert.throws(() => onAccelerator(base, 'tpu-v9', H100), /no simulator profile/);
});

test('per-instance GPU specs: each instance idles at its own accelerator’s idle power', () => {
  const a100 = onAccelerator(llama8b('a', 0), 'nvidia-a100-sxm4-80gb', { idleW: 55, maxW: 400 });
  const b200 = onAccelerator(llama8b('b', 0), 'nvidia-b200-sxm-180gb', { idleW: 140, maxW: 1000 });
  const seen = new Map<number, number>();
  simulatePower([], [a100, b200], H100, 0, 1000, 100, (k, _t, w) => seen.set(k, w));
  assert.deepEqual([...seen.entries()].sort(), [
    [0, 55],
    [1, 140],
  ]);
});

test('agent runs: every run has one tenant, one agent, one conversation; calls spread over hosts', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 1_000_000 }), (seed) => {
      const instances = ['h1', 'h2', 'h3', 'h4'].flatMap((h) => [
        llama70bTp4(h, [0, 1, 2, 3]),
        llama8b(h, 4),
      ]);
      const trace = Array.from({ length: 400 }, (_, i) => ({
        arrivalMs: i * 100,
        promptTokens: 100,
        completionTokens: 20,
      }));
      const reqs = scheduleRequests(trace, instances, 0, 1, seed);
      const runs = groupIntoRuns(reqs, seed);
      const byTrace = new Map<string, typeof reqs>();
      for (const r of reqs) if (r.traceId) byTrace.set(r.traceId, [...(byTrace.get(r.traceId) ?? []), r]);
      assert.equal(byTrace.size, runs);
      for (const calls of byTrace.values()) {
        assert.equal(new Set(calls.map((c) => c.tenant)).size, 1);
        assert.equal(new Set(calls.map((c) => c.agentName)).size, 1);
        assert.equal(new Set(calls.map((c) => c.conversationId)).size, 1);
      }
      return true;
    }),
    { numRuns: 25 },
  );
  const instances = ['h1', 'h2', 'h3', 'h4'].map((h) => llama8b(h, 0));
  const trace = Array.from({ length: 2000 }, (_, i) => ({
    arrivalMs: i * 100,
    promptTokens: 100,
    completionTokens: 20,
  }));
  const reqs = scheduleRequests(trace, instances, 0, 1, 3);
  groupIntoRuns(reqs, 3);
  const multiHost = new Map<string, Set<string>>();
  for (const r of reqs)
    if (r.traceId) multiHost.set(r.traceId, (multiHost.get(r.traceId) ?? new Set()).add(r.host));
  assert.ok(
    [...multiHost.values()].some((h) => h.size > 1),
    'some run spans several hosts',
  );
  const share = reqs.filter((r) => r.traceId).length / reqs.length;
  assert.ok(share > 0.15 && share < 0.5, `share of calls in runs: ${share}`);
});

test('the synthetic day keeps the zone’s annual mean and varies by hour', () => {
  const day0 = Date.UTC(2026, 10, 30);
  const s = hourlySeries(381, { amplitude: 0.25, peakHourUtc: 18, solarDip: 0.45 }, day0, 48);
  assert.equal(s.tMs.length, 48);
  const mean = s.value.slice(0, 24).reduce((a, b) => a + b, 0) / 24;
  assert.ok(Math.abs(mean - 381) < 1e-9);
  assert.ok(Math.max(...s.value) / Math.min(...s.value) > 1.5);
  assert.deepEqual(s.value.slice(0, 24), s.value.slice(24)); // whole days repeat
  assert.equal(s.tMs[1]! - s.tMs[0]!, 3_600_000);
});
