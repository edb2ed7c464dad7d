// The basis label the SCI and EED exports and the HTML report carry: named from the data file, the
// same text in each place.

import assert from 'node:assert/strict';
import test from 'node:test';
import { loadGridFactors } from '../adapters/fleet-file.ts';
import { gridBasisLabel } from './basis.ts';
import { eedRows } from './cli.ts';
import { renderHtml } from './html.ts';

test('the label names basis, datasets with their releases, and the estimated zones', () => {
  const file = loadGridFactors();
  const lifecycle = gridBasisLabel(file, null);
  assert.match(lifecycle, /^location-based, lifecycle emissions/);
  assert.match(lifecycle, /Ember Yearly electricity data, 2024 release/);
  // The US zones' lifecycle factors are converted from eGRID with the IPCC ratio: both are named.
  assert.match(lifecycle, /eGRID2022/);
  assert.match(lifecycle, /IPCC AR5/);
  assert.match(lifecycle, /estimates for IE, JP-TK, IN-WE, US-CAL-CISO, US-MIDA-PJM/);
  const direct = gridBasisLabel(file, 'direct');
  assert.match(direct, /^location-based, direct emissions \(annual factors: U\.S\. EPA/);
  assert.doesNotMatch(direct, /Ember/);
  assert.match(direct, /estimates for US-MIDA-PJM;/);
});

test('EED rows and the HTML report carry the label', () => {
  const label = gridBasisLabel(loadGridFactors(), null);
  const [row] = eedRows([{ month: '2026-11', facility: 'par1', total_kwh: 1 }], label);
  assert.equal(row!.grid_emission_factor_basis, label);
  assert.equal(eedRows([{ month: '2026-11' }])[0]!.grid_emission_factor_basis, undefined);
  const html = renderHtml({
    title: 't',
    generatedAt: 'now',
    filters: '',
    overTime: [],
    distribution: [],
    boundary: [],
    tenants: [],
    perQuery: [],
    ledger: null,
    gridBasis: `${label} <b>`,
  });
  assert.ok(html.includes(`Grid factors: ${label.replace(/&/g, '&amp;')} &lt;b&gt;`));
});
