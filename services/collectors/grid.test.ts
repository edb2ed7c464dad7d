import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GridFeedError, parseElectricityMaps, parseGridCsv, parseWattTime } from './grid.ts';

test('Electricity Maps: latest and history answers; null gaps skipped', () => {
  // Shapes from the Electricity Maps v3 API reference (carbon-intensity/latest, /history).
  const latest = parseElectricityMaps(
    {
      zone: 'DE',
      carbonIntensity: 302,
      datetime: '2026-11-28T10:00:00.000Z',
      updatedAt: '2026-11-28T10:12:00.000Z',
      emissionFactorType: 'lifecycle',
      isEstimated: true,
      estimationMethod: 'TIME_SLICER_AVERAGE',
    },
    'DE',
  );
  assert.deepEqual(latest, [
    {
      zone: 'DE',
      tMs: Date.parse('2026-11-28T10:00:00Z'),
      gPerKWh: 302,
      source: 'electricitymaps',
      estimated: true,
    },
  ]);
  const hist = parseElectricityMaps(
    {
      zone: 'FR',
      history: [
        { carbonIntensity: 41, datetime: '2026-11-28T08:00:00.000Z' },
        { carbonIntensity: null, datetime: '2026-11-28T09:00:00.000Z' },
      ],
    },
    'FR',
  );
  assert.equal(hist.length, 1);
  assert.throws(() => parseElectricityMaps({ zone: 'FR', carbonIntensity: null }, 'FR'), GridFeedError);
});

test('WattTime: average emissions converted from lb/MWh; marginal and percentile signals refused', () => {
  const v = parseWattTime(
    {
      data: [{ point_time: '2026-11-28T10:00:00+00:00', value: 800 }],
      meta: { region: 'PJM_DC', signal_type: 'co2_aoer', units: 'lbs_co2_per_mwh' },
    },
    'US-MIDA-PJM',
  );
  assert.ok(Math.abs(v[0]!.gPerKWh - 362.873896) < 1e-6);
  assert.throws(
    () =>
      parseWattTime(
        {
          data: [{ point_time: '2026-11-28T10:00:00Z', value: 900 }],
          meta: { signal_type: 'co2_moer', units: 'lbs_co2_per_mwh' },
        },
        'z',
      ),
    /marginal/,
  );
  assert.throws(
    () => parseWattTime({ data: [], meta: { units: 'percentile' } }, 'z'),
    /marginal or relative/,
  );
});

test('grid CSV: values and line errors, hostile zone ids refused', () => {
  const { values, errors } = parseGridCsv(
    "zone,datetime,g_per_kwh\nFR,2026-11-28T10:00:00Z,41\nDE,1795888800000,302\nx'; DROP TABLE t;--,2026-11-28T10:00:00Z,5\nSE,yesterday,10\nSE,2026-11-28T10:00:00Z,-4\n",
  );
  assert.deepEqual(
    values.map((v) => v.zone),
    ['FR', 'DE'],
  );
  assert.equal(errors.length, 3);
  assert.match(errors[0]!, /not a zone id/);
  assert.deepEqual(parseGridCsv('a,b\n1,2\n').errors, ['header must have zone,datetime,g_per_kwh']);
});

test('a point that is not a usable value is reported (to dead-letter); a null gap is not', () => {
  const seen: string[] = [];
  const em = parseElectricityMaps(
    {
      zone: 'FR',
      history: [
        { datetime: '2026-11-01T00:00:00Z', carbonIntensity: 50 },
        { datetime: '2026-11-01T01:00:00Z', carbonIntensity: null },
        { datetime: '2026-11-01T02:00:00Z', carbonIntensity: -5 },
      ],
    },
    'FR',
    (_p, why) => seen.push(why),
  );
  assert.deepEqual(
    em.map((v) => v.gPerKWh),
    [50],
  );
  assert.equal(seen.length, 1);
  assert.match(seen[0]!, /-5 is not a usable value/);
  const wt: string[] = [];
  const v = parseWattTime(
    {
      data: [
        { point_time: '2026-11-01T00:00:00Z', value: 800 },
        { point_time: 'yesterday', value: 800 },
        { point_time: '2026-11-01T00:05:00Z', value: 1e9 },
      ],
      meta: { units: 'lbs_co2_per_mwh', signal_type: 'co2_aoer' },
    },
    'US-MIDA-PJM',
    (_p, why) => wt.push(why),
  );
  assert.equal(v.length, 1);
  assert.equal(wt.length, 2);
});
