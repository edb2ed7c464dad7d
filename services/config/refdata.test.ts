// The data check: the shipped grid factors and device catalog are traceable (every value has its
// provenance, derived values recompute from their inputs, bases and units agree), and a value
// changed without its provenance (or without re-sealing) fails. Runs in `npm test` with the unit tests.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import test from 'node:test';
import fc from 'fast-check';
import { loadShippedData } from '../adapters/fleet-file.ts';
import { checkCatalog, type Catalog, type CatalogModel } from './device-catalog.ts';
import { parseFleet } from './fleet-parse.ts';
import { checkGridFactors, GRID_BASES, type GridFactor, type GridFactorsFile } from './grid-factors.ts';
import { sealed } from './seal.ts';

const read = <T>(name: string): T =>
  JSON.parse(readFileSync(new URL(`../../data/${name}`, import.meta.url), 'utf8')) as T;
const grid = () => read<GridFactorsFile>('grid-annual-factors.json');
const catalog = () => read<Catalog>('device-catalog.json');

test('shipped grid factors pass the data check', () => {
  assert.deepEqual(checkGridFactors(grid()), []);
});

test('every grid factor names dataset, release, data year, basis and conversion, or its derivation', () => {
  const file = grid();
  let factors = 0;
  for (const [id, zone] of Object.entries(file.zones)) {
    assert.ok(zone[file.defaultBasis], `${id} has a factor on the default basis`);
    for (const basis of GRID_BASES) {
      const f = zone[basis];
      if (!f) continue;
      factors++;
      if (f.method === 'converted') {
        assert.equal(f.estimate, true, `${id}.${basis} is marked as an estimate`);
        assert.ok(f.ratio && file.datasets[f.ratio.dataset], `${id}.${basis} cites its ratio's source`);
        continue;
      }
      const d = file.datasets[f.dataset!];
      assert.ok(d, `${id}.${basis} cites a dataset`);
      if (f.method === 'mix') {
        assert.equal(f.estimate, true, `${id}.${basis}: a mix is an estimate`);
        assert.ok(file.datasets[f.mix!.factors]?.factors?.[basis], `${id}.${basis}: its factor table`);
      } else assert.equal(d.basis, basis, `${id}.${basis}: the dataset's basis is the factor's`);
      assert.ok(d.release.length > 0 && d.url.startsWith('https://'), `${id}.${basis}: release and url`);
      assert.ok(Number.isInteger(f.dataYear), `${id}.${basis}: data year`);
      if (f.method === 'published') assert.equal(f.sourceUnit, d.unit, `${id}.${basis}: unit as published`);
      if (f.method === 'weighted-mean')
        assert.ok(f.inputs!.length > 0 && f.weightBasis, `${id}.${basis}: inputs and weights`);
    }
  }
  assert.ok(factors >= Object.keys(file.zones).length);
});

test('the corrected US zones: CAMX from 499.3 lb/MWh, PJM from its stated inputs', () => {
  const z = grid().zones;
  assert.equal(z['US-CAL-CISO']!.direct!.sourceValue, 499.3);
  assert.equal(z['US-CAL-CISO']!.direct!.gPerKWh, 226.5);
  const pjm = z['US-MIDA-PJM']!.direct!;
  const w = pjm.inputs!.reduce((s, i) => s + i.weight, 0);
  const mean = pjm.inputs!.reduce((s, i) => s + i.weight * i.gPerKWh, 0) / w;
  assert.equal(pjm.gPerKWh, Math.round(mean * 10) / 10);
});

/** The file with one factor replaced (as a hand edit would), optionally re-sealed. */
function edit(zone: string, basis: 'lifecycle' | 'direct', change: (f: GridFactor) => void, reseal = false) {
  const file = grid();
  const f = structuredClone(file.zones[zone]![basis]!);
  change(f);
  file.zones[zone]![basis] = reseal ? sealed(f) : f;
  return checkGridFactors(file);
}

test('a value changed without its provenance fails the check', () => {
  const p = edit('DE', 'lifecycle', (f) => (f.gPerKWh = 300));
  assert.ok(p.some((m) => /DE\.lifecycle\.gPerKWh is 300 but its inputs give 381/.test(m)));
  assert.ok(p.some((m) => /DE\.lifecycle\.seal does not match/.test(m)));
});

test('value and source changed together but not re-sealed fail; re-sealed they pass', () => {
  const change = (f: GridFactor) => {
    f.gPerKWh = 300;
    f.sourceValue = 300;
  };
  assert.deepEqual(
    edit('DE', 'lifecycle', change).map((m) => m.replace(/:.*/, '')),
    ['zones.DE.lifecycle.seal does not match'],
  );
  assert.deepEqual(edit('DE', 'lifecycle', change, true), []);
});

test('derived values recompute from their inputs: a changed weight or ratio fails', () => {
  const weight = edit('US-MIDA-PJM', 'direct', (f) => (f.inputs![0]!.weight = 2), true);
  assert.ok(weight.some((m) => /US-MIDA-PJM\.direct\.gPerKWh is 378 but its inputs give 352/.test(m)));
  const ratio = edit('US-CAL-CISO', 'lifecycle', (f) => (f.ratio!.numerator = 500), true);
  assert.ok(ratio.some((m) => /US-CAL-CISO\.lifecycle\.gPerKWh is 300 but its inputs give 306/.test(m)));
});

test('bases and units must agree, estimates must say why', () => {
  const basis = edit('US-CAL-CISO', 'direct', (f) => (f.dataset = 'ember-yearly-2024'), true);
  assert.ok(basis.some((m) => /cites ember-yearly-2024, whose basis is lifecycle/.test(m)));
  const unit = edit('FR', 'lifecycle', (f) => (f.sourceUnit = 'lbCO2e/MWh'), true);
  assert.ok(unit.some((m) => /sourceUnit lbCO2e\/MWh differs/.test(m)));
  const why = edit('US-CAL-CISO', 'lifecycle', (f) => delete f.estimate, true);
  assert.ok(why.some((m) => /a converted factor is an estimate and must say so/.test(m)));
  const below = edit(
    'US-CAL-CISO',
    'lifecycle',
    (f) => {
      f.ratio!.numerator = 300;
      f.gPerKWh = 183.6;
    },
    true,
  );
  assert.ok(below.some((m) => /lifecycle 183\.6 is below direct 226\.5/.test(m)));
});

test('property: a published lb/MWh factor passes iff its value is the converted source value', () => {
  fc.assert(
    fc.property(
      fc.double({ min: 0, max: 3000, noNaN: true }),
      fc.integer({ min: -50, max: 50 }),
      (lbPerMWh, offsetTenths) => {
        const file = grid();
        const source = Math.round(lbPerMWh * 10) / 10;
        const right = Math.round(source * 0.45359237 * 10) / 10;
        const value = Math.round((right + offsetTenths / 10) * 10) / 10;
        const f = structuredClone(file.zones['US-CAL-CISO']!.direct!);
        f.sourceValue = source;
        f.gPerKWh = value;
        file.zones['US-CAL-CISO']!.direct = sealed(f);
        delete file.zones['US-CAL-CISO']!.lifecycle;
        file.defaultBasis = 'direct';
        // Only the edited zone is in the file, so the check speaks about it alone.
        file.zones = { 'US-CAL-CISO': file.zones['US-CAL-CISO']! };
        return (checkGridFactors(file).length === 0) === (offsetTenths === 0);
      },
    ),
    { numRuns: 200 },
  );
});

test('shipped device catalog passes the data check and holds the compared accelerators', () => {
  const cat = catalog();
  assert.deepEqual(checkCatalog(cat), []);
  const ids = new Set(cat.models.filter((m) => m.role === 'accelerator').map((m) => m.id));
  for (const id of [
    'nvidia-a100-sxm4-80gb',
    'nvidia-h100-sxm5-80gb',
    'nvidia-h200-sxm-141gb',
    'nvidia-b200-sxm-180gb',
    'amd-mi300x-oam-192gb',
    'nvidia-l40s-pcie-48gb',
  ])
    assert.ok(ids.has(id), id);
});

test('PCF shares: H100 and B200 are their baseboard PCF over 8 GPUs', () => {
  const cat = catalog();
  const by = new Map(cat.models.map((m) => [m.id, m]));
  assert.equal(by.get('nvidia-h100-sxm5-80gb')!.embodiedKgCO2e, cat.pcfs['nvidia-hgx-h100']!.kgCO2e / 8);
  assert.equal(by.get('nvidia-b200-sxm-180gb')!.embodiedKgCO2e, cat.pcfs['nvidia-hgx-b200']!.kgCO2e / 8);
});

test('catalog: a changed value, a missing provenance or a part counted twice fails', () => {
  const cat = catalog();
  const h100 = cat.models.find((m) => m.id === 'nvidia-h100-sxm5-80gb')!;
  h100.embodiedKgCO2e = 150;
  let p = checkCatalog(cat);
  assert.ok(p.some((m) => /embodiedKgCO2e 150 is not 1312 \/ 8/.test(m)));
  assert.ok(p.some((m) => /nvidia-h100-sxm5-80gb: seal does not match/.test(m)));

  const cat2 = catalog();
  const i = cat2.models.findIndex((m) => m.id === 'nvidia-l40s-pcie-48gb');
  const { maxW: _gone, ...rest } = cat2.models[i]!.provenance;
  cat2.models[i] = sealed({ ...cat2.models[i]!, provenance: rest as CatalogModel['provenance'] });
  p = checkCatalog(cat2);
  assert.ok(p.some((m) => /nvidia-l40s-pcie-48gb: maxW has no provenance/.test(m)));

  const cat3 = catalog();
  const j = cat3.models.findIndex((m) => m.id === 'hgx-8gpu-chassis');
  cat3.models[j] = sealed({ ...cat3.models[j]!, includes: [...cat3.models[j]!.includes, 'nvswitch'] });
  p = checkCatalog(cat3);
  assert.ok(
    p.some((m) =>
      /platforms\.hgx-h100: nvswitch is counted in both nvidia-h100-sxm5-80gb and hgx-8gpu-chassis/.test(m),
    ),
  );
});

test('the basis is a setting: direct leaves out zones without a direct factor, and says so', () => {
  const lifecycle = loadShippedData();
  assert.equal(lifecycle.gridBasis, 'lifecycle');
  assert.equal(lifecycle.annualFactors.FR, 56);
  assert.equal(lifecycle.annualFactors['US-CAL-CISO'], 300);
  const direct = loadShippedData('direct');
  assert.equal(direct.annualFactors['US-CAL-CISO'], 226.5);
  assert.equal(direct.annualFactors.FR, undefined);
  assert.throws(
    () => parseFleet({ facilities: [{ id: 'p', region: 'eu', zone: 'FR', pue: 1.2 }], hosts: [] }, direct),
    /FR has no annual factor on the direct basis/,
  );
  // A fleet's own factor on the selected basis fills the gap; one on the other basis is refused.
  const fleet = (annualBasis: string) => ({
    facilities: [{ id: 'p', region: 'eu', zone: 'FR', pue: 1.2 }],
    hosts: [{ id: 'h', facility: 'p', gpuCount: 0 }],
    zones: { FR: { annualGPerKWh: 30, annualBasis } },
  });
  assert.equal(parseFleet(fleet('direct'), direct).zones.get('FR')!.annualGPerKWh, 30);
  assert.throws(
    () => parseFleet(fleet('lifecycle'), direct),
    /zones\.FR\.annualBasis is "lifecycle" but the annual factors are on the direct basis/,
  );
});
