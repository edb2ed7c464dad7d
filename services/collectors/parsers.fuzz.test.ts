// Fuzzing of the collectors' parsers of outside input: Prometheus text (and the power samples taken
// from it), JSONL request and power lines, nvidia-smi CSV, grid feed answers (Electricity Maps,
// WattTime, CSV) and Redfish answers. Generated valid inputs, the same mutated at the byte level,
// and arbitrary text and JSON. Each must give a valid result (one the Avro encoding that follows
// accepts) or its typed error / rejection with a reason, within a time bound. A few seconds in all.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AvroCodec } from '../adapters/avro.ts';
import { FUZZ, mutateText } from '../../test/support/fuzz.ts';
import { GridFeedError, parseElectricityMaps, parseGridCsv, parseWattTime } from './grid.ts';
import { parseCsvHeader, parseCsvRow, parsePowerLine, parseRequestLine } from './parse.ts';
import { powerFromScrape } from './prom-power.ts';
import { parsePromText } from './prom-text.ts';
import {
  environmentWatts,
  isChassisPowerSensor,
  powerWatts,
  RedfishAnswerError,
  sensorPaths,
  sensorWatts,
} from './redfish-answers.ts';

const codec = new AvroCodec();

/** Runs `f` within the time bound; any throw other than `typed` (when given) fails. */
function bounded<T>(f: () => T, typed?: abstract new (...a: never[]) => Error): T | null {
  const t0 = performance.now();
  try {
    return f();
  } catch (err) {
    if (typed && err instanceof typed) return null;
    throw err;
  } finally {
    assert.ok(performance.now() - t0 < FUZZ.maxCaseMs, 'parsing took too long');
  }
}

// --- generators of valid-looking inputs ---------------------------------------------------------

const num = fc.oneof(
  fc.double({ noNaN: false }),
  fc.integer({ min: -5, max: 5000 }),
  fc.constantFrom(1e300, -0, 2 ** 53 + 2, 1.5),
);
const timeLike = fc.oneof(
  fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }),
  fc.constantFrom('1700000000000', '99999999999999999999', '2026-12-01T00:00:00Z', 'yesterday', 1e300, -1),
  num,
);
const anyJson = fc.jsonValue({ maxDepth: 3 });

const requestLine = fc
  .record(
    {
      request_id: fc.oneof(fc.string({ maxLength: 10 }), anyJson),
      host: fc.oneof(fc.constantFrom('host-a', ''), anyJson),
      gpus: fc.oneof(fc.array(fc.integer({ min: -1, max: 9000 }), { maxLength: 4 }), anyJson),
      model: fc.oneof(fc.constant('llama'), anyJson),
      tenant: fc.oneof(fc.constant('acme'), anyJson),
      status: fc.oneof(fc.constantFrom('ok', 'error', 'weird'), anyJson),
      start_ms: timeLike,
      end_ms: timeLike,
      first_token_ms: fc.oneof(timeLike, fc.constant(null)),
      prompt_tokens: fc.oneof(num, fc.constantFrom('12', '-3', null)),
      completion_tokens: fc.oneof(num, fc.constant(null)),
    },
    { requiredKeys: [] },
  )
  .map((o) => JSON.stringify(o));

const powerLine = fc
  .record(
    {
      t_ms: timeLike,
      host: fc.oneof(fc.constant('host-a'), anyJson),
      role: fc.constantFrom('accelerator', 'cpu', 'dram', 'node', 'gpu'),
      device: fc.oneof(fc.constantFrom('0', 'package-0'), fc.integer(), anyJson),
      source: fc.oneof(fc.constant('rapl'), anyJson),
      energy_uj: num,
      max_energy_range_uj: num,
      energy_j: num,
      range_j: num,
      power_w: num,
      averaging_ms: num,
    },
    { requiredKeys: [] },
  )
  .map((o) => JSON.stringify(o));

const csvText = fc
  .tuple(
    fc.constantFrom(
      'timestamp, index, power.draw [W], total_energy_consumption [mJ]',
      'host,timestamp,index,power.draw,total_energy_consumption',
      'timestamp,index,power.draw',
      'index,power.draw',
    ),
    fc.array(
      fc
        .tuple(
          fc.constantFrom('host-a', ''),
          fc.oneof(
            fc.constantFrom('2023/11/16 18:17:03.979', '1700000000000', '99999999999999999999'),
            fc.string(),
          ),
          fc.oneof(fc.nat({ max: 9 }).map(String), fc.string({ maxLength: 3 })),
          fc.oneof(
            fc.constantFrom('123.45 W', '[N/A]', 'nan', '-inf', '1e400', '5 mJ'),
            fc.string({ maxLength: 6 }),
          ),
          fc.oneof(fc.constantFrom('123456789', '1234 mJ', '[Not Supported]'), fc.string({ maxLength: 6 })),
        )
        .map((cells) => cells.join(', ')),
      { maxLength: 5 },
    ),
  )
  .map(([h, rows]) => [h, ...rows].join('\n'));

const promLine = fc
  .tuple(
    fc.constantFrom(
      'DCGM_FI_DEV_POWER_USAGE',
      'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION',
      'node_rapl_package_joules_total',
      'node_rapl_dram_joules_total',
      'other_metric',
    ),
    fc.array(
      fc
        .tuple(fc.constantFrom('gpu', 'Hostname', 'index', 'x'), fc.string({ maxLength: 8 }))
        .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`),
      { maxLength: 3 },
    ),
    fc.oneof(num.map(String), fc.constantFrom('NaN', '+Inf', 'Nan', '1e999')),
    fc.option(
      fc.oneof(
        fc.integer({ min: 1_600_000_000_000, max: 1_900_000_000_000 }).map(String),
        fc.constantFrom('99999999999999999999', '-1'),
      ),
      { nil: undefined },
    ),
  )
  .map(([n, ls, v, ts]) => `${n}${ls.length ? `{${ls.join(',')}}` : ''} ${v}${ts ? ` ${ts}` : ''}`);
const promText = fc
  .array(fc.oneof(promLine, fc.constantFrom('# HELP x y', '# TYPE DCGM_FI_DEV_POWER_USAGE gauge', '')), {
    maxLength: 10,
  })
  .map((ls) => ls.join('\n'));

const textOf = (valid: fc.Arbitrary<string>) =>
  fc.oneof(
    { weight: 3, arbitrary: valid },
    { weight: 3, arbitrary: mutateText(valid) },
    fc.string({ maxLength: 200 }),
  );

// --- properties ---------------------------------------------------------------------------------

test('Prometheus text: any text parses to samples and per-line errors; power samples encode', () => {
  fc.assert(
    fc.property(textOf(promText), fc.constantFrom('dcgm' as const, 'node' as const), (text, kind) => {
      const p = bounded(() => parsePromText(text))!;
      for (const s of p.samples) assert.match(s.name, /^[a-zA-Z_:][a-zA-Z0-9_:]*$/);
      const { samples, rejected } = bounded(() =>
        powerFromScrape(p, { url: 'http://t/metrics', kind, host: 'host-t' }, 1_764_547_200_000),
      )!;
      for (const s of samples) codec.encode('power', s);
      for (const r of rejected) assert.ok(r.reason && r.message);
    }),
    FUZZ.runs(400),
  );
});

test('JSONL request lines: a request log that encodes, or a reason', () => {
  fc.assert(
    fc.property(textOf(requestLine), (line) => {
      const r = bounded(() => parseRequestLine(line))!;
      if (r.ok) codec.encode('request', r.value);
      else assert.ok(r.reason && r.message);
    }),
    FUZZ.runs(500),
  );
});

test('JSONL power lines: a power sample that encodes, or a reason', () => {
  fc.assert(
    fc.property(textOf(powerLine), (line) => {
      const r = bounded(() => parsePowerLine(line))!;
      if (r.ok) codec.encode('power', r.value);
      else assert.ok(r.reason && r.message);
    }),
    FUZZ.runs(500),
  );
});

test('nvidia-smi CSV: header and rows give samples that encode, or reasons', () => {
  fc.assert(
    fc.property(textOf(csvText), (text) => {
      const [head, ...rows] = text.split('\n');
      const h = bounded(() => parseCsvHeader(head ?? ''))!;
      if (!h.ok) return void assert.ok(h.reason && h.message);
      for (const row of rows) {
        const r = bounded(() => parseCsvRow(row, h.value, null))!;
        if (r.ok) for (const s of r.value) codec.encode('power', s);
        else assert.ok(r.reason && r.message);
      }
    }),
    FUZZ.runs(400),
  );
});

const emPoint = fc.record(
  {
    zone: fc.constant('DE'),
    carbonIntensity: fc.oneof(num, fc.constant(null), anyJson),
    datetime: fc.oneof(fc.constantFrom('2026-12-01T00:00:00.000Z', 'now'), anyJson),
    isEstimated: fc.oneof(fc.boolean(), anyJson),
  },
  { requiredKeys: [] },
);
const emBody = fc.oneof(emPoint, fc.record({ history: fc.array(emPoint, { maxLength: 4 }) }), anyJson);
const wtBody = fc.oneof(
  fc.record(
    {
      data: fc.oneof(
        fc.array(
          fc.record(
            {
              point_time: fc.oneof(fc.constant('2026-12-01T00:05:00Z'), anyJson),
              value: fc.oneof(num, anyJson),
            },
            { requiredKeys: [] },
          ),
          { maxLength: 4 },
        ),
        anyJson,
      ),
      meta: fc.oneof(
        fc.record({
          units: fc.constantFrom('lbs_co2_per_mwh', 'g_co2_per_kwh', 'percentile', 'x'),
          signal_type: fc.constantFrom('co2_aoer', 'co2_moer', ''),
        }),
        anyJson,
      ),
    },
    { requiredKeys: [] },
  ),
  anyJson,
);

/** A JSON body as the poller gets it: parsed from text that may have been mutated. */
const jsonBody = (valid: fc.Arbitrary<unknown>) =>
  fc.oneof(
    valid,
    mutateText(valid.map((v) => JSON.stringify(v) ?? 'null')).chain((t) => {
      try {
        return fc.constant(JSON.parse(t) as unknown);
      } catch {
        return fc.constant(undefined);
      }
    }),
  );

test('grid answers: intensities that encode, or a GridFeedError; CSV lines give values or errors', () => {
  fc.assert(
    fc.property(
      jsonBody(emBody),
      jsonBody(wtBody),
      textOf(fc.constant('zone,datetime,g_per_kwh\nDE,1700000000000,350')),
      (em, wt, csv) => {
        for (const values of [
          bounded(() => parseElectricityMaps(em, 'DE'), GridFeedError),
          bounded(() => parseWattTime(wt, 'CAISO'), GridFeedError),
          bounded(() => parseGridCsv(csv).values),
        ])
          for (const v of values ?? []) {
            assert.ok(
              Number.isFinite(v.gPerKWh) && v.gPerKWh >= 0 && v.gPerKWh <= 3000,
              `intensity ${v.gPerKWh}`,
            );
            codec.encode('grid', v);
          }
      },
    ),
    FUZZ.runs(400),
  );
});

test('Redfish answers: a reading, nothing, or a RedfishAnswerError', () => {
  const valid = fc.oneof(
    fc.record({ PowerWatts: fc.record({ Reading: fc.oneof(num, anyJson) }) }),
    fc.record({
      Members: fc.oneof(fc.array(fc.record({ '@odata.id': fc.oneof(fc.string(), anyJson) })), anyJson),
    }),
    fc.record({
      ReadingType: fc.constantFrom('Power', 'Temperature'),
      PhysicalContext: fc.constantFrom('Chassis', 'CPU'),
      Reading: num,
    }),
    fc.record({
      PowerControl: fc.oneof(fc.array(fc.record({ PowerConsumedWatts: fc.oneof(num, anyJson) })), anyJson),
    }),
    anyJson,
  );
  fc.assert(
    fc.property(textOf(valid.map((v) => JSON.stringify(v))), (body) => {
      for (const f of [environmentWatts, sensorWatts, powerWatts]) {
        const w = bounded(() => f(body), RedfishAnswerError);
        assert.ok(w === null || w === undefined || typeof w === 'number');
      }
      const paths = bounded(() => sensorPaths(body), RedfishAnswerError);
      assert.ok(paths === null || paths.every((p) => typeof p === 'string'));
      bounded(() => isChassisPowerSensor(body), RedfishAnswerError);
    }),
    FUZZ.runs(400),
  );
});
