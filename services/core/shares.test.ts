import assert from 'node:assert/strict';
import { test } from 'node:test';
import { commonModel, shares, weight } from './shares.ts';
import type { RequestLog } from './types.ts';

const req = (
  id: string,
  t0: number,
  t1: number,
  p: number | null,
  c: number | null,
  ft: number | null = null,
): RequestLog => ({
  requestId: id,
  host: 'h',
  gpus: [],
  model: 'm',
  tenant: 't',
  status: 'ok',
  tStartMs: t0,
  tEndMs: t1,
  tFirstTokenMs: ft,
  promptTokens: p,
  completionTokens: c,
});

test('phase-aware weight spreads prompt tokens over prefill and completion tokens over decode', () => {
  const r = req('a', 0, 2000, 1000, 100, 1000);
  // Window [0,1000) holds all prefill; [1000,2000) all decode.
  assert.equal(weight(r, 'phase', 0.1, 0, 1000), 100);
  assert.equal(weight(r, 'phase', 0.1, 1000, 2000), 100);
  assert.equal(weight(r, 'phase', 0.1, 500, 1500), 50 + 50);
});

test('token-uniform weight is (kappa*p + c) times the overlap fraction', () => {
  assert.equal(weight(req('a', 0, 4000, 1000, 200), 'token', 0.2, 0, 1000), (0.2 * 1000 + 200) / 4);
});

test('the common model is the richest every request supports', () => {
  assert.equal(commonModel([req('a', 0, 1, 1, 1, 0), req('b', 0, 1, 1, 1)], 'auto'), 'token');
  assert.equal(commonModel([req('a', 0, 1, 1, 1, 0), req('b', 0, 1, null, null)], 'auto'), 'time');
  assert.equal(commonModel([req('a', 0, 1, 1, 1, 0)], 'time'), 'time');
});

test('shares sum to one; all-zero token weights fall back to time', () => {
  const s = shares([req('a', 0, 1000, 0, 0), req('b', 0, 500, 0, 0)], 'auto', () => 0.1, 0, 1000);
  assert.equal(s.model, 'time');
  assert.ok(Math.abs(s.shares[0]! - 2 / 3) < 1e-12);
  assert.ok(Math.abs(s.shares.reduce((a, b) => a + b) - 1) < 1e-12);
});
