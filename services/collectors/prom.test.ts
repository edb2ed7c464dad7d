import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { powerFromScrape } from './prom-power.ts';
import { parsePromText } from './prom-text.ts';

const fixture = (name: string): string =>
  readFileSync(new URL(`../../test/fixtures/formats/${name}`, import.meta.url), 'utf8');

test('the text format: escapes, comments, NaN and infinities, timestamps, odd spacing', () => {
  const p = parsePromText(
    [
      '# HELP m A metric with "quotes" in help',
      '# TYPE m gauge',
      '# a plain comment',
      'm{path="C:\\\\dir",msg="say \\"hi\\"\\nbye",} 1.5e3 1700000000123',
      'm{a="1"}   NaN',
      'm +Inf',
      'm{a="x"} -Inf',
      'no_labels 42',
      '   ',
      'x{a="1"} 7 1.5',
      'y{a=1} 3',
      '1bad 3',
      'z{a="open} 3',
      'w{a="\\t"} 3',
    ].join('\n'),
  );
  assert.equal(p.types.get('m'), 'gauge');
  assert.deepEqual(p.samples[0], {
    name: 'm',
    labels: { path: 'C:\\dir', msg: 'say "hi"\nbye' },
    value: 1500,
    timestampMs: 1700000000123,
  });
  assert.ok(Number.isNaN(p.samples[1]!.value));
  assert.equal(p.samples[2]!.value, Infinity);
  assert.equal(p.samples[3]!.value, -Infinity);
  assert.deepEqual(p.samples[4], { name: 'no_labels', labels: {}, value: 42, timestampMs: null });
  assert.equal(p.samples.length, 5);
  assert.deepEqual(
    p.errors.map((e) => e.line),
    [10, 11, 12, 13, 14],
  );
  assert.match(p.errors[0]!.message, /timestamp/);
  assert.match(p.errors[1]!.message, /not quoted/);
});

test('dcgm-exporter: W readings and mJ counters per GPU, host from the Hostname label', () => {
  const p = parsePromText(fixture('dcgm-exporter.prom'));
  assert.deepEqual(p.errors, []);
  const { samples, rejected } = powerFromScrape(p, { url: 'http://x/metrics', kind: 'dcgm' }, 5000);
  assert.deepEqual(rejected, []);
  assert.equal(samples.length, 4); // SM clock ignored
  const counter0 = samples.find((s) => s.device === '0' && s.kind === 'counter')!;
  assert.equal(counter0.host, 'host-a');
  assert.equal(counter0.role, 'accelerator');
  assert.ok(Math.abs(counter0.energyJ! - 3414546.742) < 1e-6);
  assert.equal(counter0.tMs, 5000);
  assert.equal(counter0.source, 'dcgm');
  const reading1 = samples.find((s) => s.device === '1' && s.kind === 'reading')!;
  assert.equal(reading1.powerW, 71.93);
});

test('node_exporter RAPL: package and DRAM counters, core/uncore left out, range from the target', () => {
  const p = parsePromText(fixture('node-exporter-rapl.prom'));
  const { samples, rejected } = powerFromScrape(
    p,
    { url: 'http://n/metrics', kind: 'node', host: 'host-b', raplRangeJ: 262143.32885 },
    9000,
  );
  assert.deepEqual(rejected, []);
  assert.deepEqual(samples.map((s) => `${s.role}:${s.device}:${s.energyJ}`).sort(), [
    'cpu:package-0:262100.118229',
    'cpu:package-1:250000',
    'dram:dram-0:40211.350283',
  ]);
  assert.ok(samples.every((s) => s.host === 'host-b' && s.rangeJ === 262143.32885 && s.source === 'rapl'));
});

test('scrapes with NaN power, no host or broken lines are rejected with reasons', () => {
  const p = parsePromText(
    'DCGM_FI_DEV_POWER_USAGE{gpu="0",Hostname="h"} NaN\nDCGM_FI_DEV_POWER_USAGE{gpu="1"} 5\nDCGM_FI_DEV_POWER_USAGE{gpu="2",Hostname="h"} -3\nbroken{ 1\n',
  );
  const { samples, rejected } = powerFromScrape(p, { url: 'u', kind: 'dcgm' }, 0);
  assert.equal(samples.length, 0);
  assert.deepEqual(rejected.map((r) => r.reason).sort(), [
    'invalid-field',
    'invalid-power',
    'invalid-power',
    'unknown-host',
  ]);
});
