// The importer on small CSVs shaped like the publishers' (fixtures/: synthetic values, not real
// data): Ember's long-format yearly CSV and eGRID's subregion sheet saved as CSV.

import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'node:test';
import { fileURLToPath } from 'node:url';
import { checkGridFactors, type GridFactorsFile } from '../config/grid-factors.ts';
import { importEgrid, importEmber, ImportError, parseCsv, resealGrid } from './import-grid-factors.ts';
import { runImportGridFactors } from './import-grid-factors-cli.ts';

const here = (p: string) => new URL(p, import.meta.url);
const DATA = here('../../data/grid-annual-factors.json');
const shipped = () => JSON.parse(readFileSync(DATA, 'utf8')) as GridFactorsFile;
const EMBER = readFileSync(here('fixtures/ember-yearly-fixture.csv'), 'utf8');
const EGRID = readFileSync(here('fixtures/egrid-srl-fixture.csv'), 'utf8');
const opts = (dataset: string) => ({ dataset, release: 'test release', sourceName: 'fixture.csv' });

test('parseCsv: quoted commas, doubled quotes, line breaks in quotes, CRLF', () => {
  assert.deepEqual(parseCsv('a,"b, c","d ""e"""\r\n"f\ng",h,\n'), [
    ['a', 'b, c', 'd "e"'],
    ['f\ng', 'h', ''],
  ]);
});

test('Ember: every Ember-cited zone takes the latest year of the CSV, the rest is untouched', () => {
  const before = shipped();
  const { file, changes } = importEmber(before, EMBER, opts('ember-yearly-2025'));
  assert.deepEqual(checkGridFactors(file), []);
  const fr = file.zones.FR!.lifecycle!;
  assert.equal(fr.gPerKWh, 44.7);
  assert.equal(fr.dataYear, 2024);
  assert.equal(fr.dataset, 'ember-yearly-2025');
  // Matched by ISO code, not by name ("United States of America" in the CSV).
  assert.equal(file.zones.US!.lifecycle!.gPerKWh, 364.4);
  // Ireland's value was awaiting an import: now published, no longer an estimate.
  assert.equal(file.zones.IE!.lifecycle!.gPerKWh, 262.6);
  assert.equal(file.zones.IE!.lifecycle!.estimate, undefined);
  // A national value standing in for a region stays an estimate.
  assert.equal(file.zones['JP-TK']!.lifecycle!.estimate, true);
  assert.deepEqual(file.zones['US-CAL-CISO'], before.zones['US-CAL-CISO']);
  assert.equal(changes.length, 11);
  assert.ok(file.datasets['ember-yearly-2025'] && !file.datasets['ember-yearly-2024']);
});

test('Ember: a chosen year, and a country missing from the release is an error naming the zone', () => {
  const { file } = importEmber(shipped(), EMBER, { ...opts('ember-yearly-2024b'), year: 2023 });
  assert.equal(file.zones.DE!.lifecycle!.gPerKWh, 370.4);
  const withoutPoland = EMBER.split('\n')
    .filter((l) => !l.startsWith('Poland'))
    .join('\n');
  assert.throws(
    () => importEmber(shipped(), withoutPoland, opts('x')),
    (e: unknown) => e instanceof ImportError && /Poland \(POL\) in 2024, needed by zone PL/.test(e.message),
  );
});

test('Ember --direct-from mix: each country gets a direct factor from its generation by fuel', () => {
  const before = shipped();
  const { file } = importEmber(before, EMBER, { ...opts('ember-yearly-2025'), directFrom: 'mix' });
  assert.deepEqual(checkGridFactors(file), []);
  const t = before.datasets['electricitymaps-defaults']!.factors!.direct!;
  // France 2024 in the fixture: gas 9.66 TWh, and 22.58 TWh each of hydro, nuclear, solar and wind.
  const fr = file.zones.FR!.direct!;
  assert.equal(fr.method, 'mix');
  assert.equal(fr.estimate, true);
  const want = (9.66 * t.gas! + 4 * 22.58 * 0) / (9.66 + 4 * 22.58);
  assert.equal(fr.gPerKWh, Math.round(want * 10) / 10);
  assert.ok(fr.gPerKWh < file.zones.FR!.lifecycle!.gPerKWh);
  // The national stand-in stays an estimate with its reason; eGRID's direct factors are not replaced.
  assert.match(file.zones['JP-TK']!.direct!.reason!, /national value stands in/);
  assert.deepEqual(file.zones['US-CAL-CISO'], before.zones['US-CAL-CISO']);
  // Every zone now has a direct factor: the direct basis covers the whole file.
  assert.ok(Object.values(file.zones).every((z) => z.direct));
});

test('eGRID: CAMX from SRC2ERTA, PJM weighted by net generation, lifecycle recomputed', () => {
  const { file } = importEgrid(shipped(), EGRID, opts('egrid2023'));
  assert.deepEqual(checkGridFactors(file), []);
  const lbToG = 0.45359237;
  const camx = file.zones['US-CAL-CISO']!;
  assert.equal(camx.direct!.gPerKWh, Math.round(430.0 * lbToG * 10) / 10);
  assert.equal(camx.direct!.dataYear, 2023);
  assert.equal(camx.lifecycle!.gPerKWh, Math.round(((camx.direct!.gPerKWh * 490) / 370) * 10) / 10);
  const e = Math.round(645.3 * lbToG * 10) / 10;
  const w = Math.round(986.1 * lbToG * 10) / 10;
  const pjm = file.zones['US-MIDA-PJM']!.direct!;
  assert.equal(
    pjm.gPerKWh,
    Math.round(((e * 280_100_200.5 + w * 410_550_300) / (280_100_200.5 + 410_550_300)) * 10) / 10,
  );
  assert.match(pjm.weightBasis!, /SRNGENAN/);
  assert.ok(!file.datasets.egrid2022 && file.datasets.egrid2023);
  assert.equal(file.zones.FR!.lifecycle!.gPerKWh, 56);
});

test('eGRID --lifecycle-from mix: resource mix x technology factors, PJM shares weighted by net generation', () => {
  const before = shipped();
  const { file, changes } = importEgrid(before, EGRID, { ...opts('egrid2023'), lifecycleFrom: 'mix' });
  assert.deepEqual(checkGridFactors(file), []);
  const t = before.datasets['electricitymaps-defaults']!.factors!.lifecycle!;
  const techs = [
    'coal',
    'oil',
    'gas',
    'nuclear',
    'hydro',
    'biomass',
    'wind',
    'solar',
    'geothermal',
    'other-fossil',
    'other-unknown',
  ];
  const camx = [0.002, 0.001, 0.45, 0.09, 0.1, 0.03, 0.08, 0.2, 0.045, 0.001, 0.001];
  const rfce = [0.1, 0.005, 0.42, 0.43, 0.01, 0.01, 0.01, 0.01, 0, 0.003, 0.002];
  const rfcw = [0.38, 0.003, 0.3, 0.27, 0.005, 0.005, 0.03, 0.004, 0, 0.002, 0.001];
  const intensity = (shares: number[]) =>
    shares.reduce((s, x, i) => s + x * t[techs[i]!]!, 0) / shares.reduce((s, x) => s + x, 0);
  const lc = file.zones['US-CAL-CISO']!.lifecycle!;
  assert.equal(lc.method, 'mix');
  assert.equal(lc.estimate, true);
  assert.equal(lc.gPerKWh, Math.round(intensity(camx) * 10) / 10);
  const [we, ww] = [280_100_200.5, 410_550_300];
  const pjm = rfce.map((x, i) => (x * we + rfcw[i]! * ww) / (we + ww));
  assert.ok(Math.abs(file.zones['US-MIDA-PJM']!.lifecycle!.gPerKWh - intensity(pjm)) <= 0.05);
  assert.ok(
    changes.some((c) =>
      /US-CAL-CISO lifecycle: 300 -> .* \(resource mix x electricitymaps-defaults\)/.test(c),
    ),
  );
  // A share changed after the import (even re-sealed) no longer gives the value.
  const edited = structuredClone(file);
  edited.zones['US-CAL-CISO']!.lifecycle!.mix!.shares.coal = 0.2;
  assert.ok(
    resealGridFails(edited).some((m) => /US-CAL-CISO\.lifecycle\.gPerKWh is .* but its inputs give/.test(m)),
  );
  const noMix = EGRID.replace(',SRCLPR,', ',XXCLPR,');
  assert.throws(
    () => importEgrid(before, noMix, { ...opts('egrid2023'), lifecycleFrom: 'mix' }),
    /--lifecycle-from mix needs the resource-mix columns/,
  );
});

const resealGridFails = (f: GridFactorsFile): string[] => {
  try {
    resealGrid(f);
    return [];
  } catch (err) {
    return [(err as Error).message];
  }
};

test('eGRID: a file without the columns, or without a needed subregion, is refused', () => {
  assert.throws(
    () => importEgrid(shipped(), 'a,b\n1,2\n', opts('egrid2023')),
    /no header row with the columns/,
  );
  const noRfcw = EGRID.split('\n')
    .filter((l) => !l.includes('RFCW'))
    .join('\n');
  assert.throws(
    () => importEgrid(shipped(), noRfcw, opts('egrid2023')),
    /no subregion RFCW, needed by zone US-MIDA-PJM/,
  );
});

test('reseal: refused while a value does not follow from its inputs, accepted when it does', () => {
  const bad = shipped();
  bad.zones.FR!.lifecycle!.gPerKWh = 60;
  assert.throws(() => resealGrid(bad), /FR\.lifecycle\.gPerKWh is 60 but its inputs give 56/);
  const good = shipped();
  good.zones.FR!.lifecycle!.gPerKWh = 60;
  good.zones.FR!.lifecycle!.sourceValue = 60;
  assert.notDeepEqual(checkGridFactors(good), []);
  assert.deepEqual(checkGridFactors(resealGrid(good)), []);
});

test('the command writes the file it was given, and the result passes the data check', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'import-grid-'));
  const path = join(dir, 'factors.json');
  copyFileSync(DATA, path);
  const fixture = fileURLToPath(here('fixtures/egrid-srl-fixture.csv'));
  await runImportGridFactors([
    '--egrid',
    fixture,
    '--dataset',
    'egrid2023',
    '--release',
    'r',
    '--file',
    path,
  ]);
  const written = JSON.parse(readFileSync(path, 'utf8')) as GridFactorsFile;
  assert.deepEqual(checkGridFactors(written), []);
  assert.equal(written.zones['US-CAL-CISO']!.direct!.dataset, 'egrid2023');
  await assert.rejects(
    runImportGridFactors(['--egrid', fixture, '--dataset', 'Bad Id', '--release', 'r', '--file', path]),
    /--dataset must be an id/,
  );
});
