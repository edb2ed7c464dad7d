// The grid-factor basis a report states beside its carbon figures (SCI and EED exports, the HTML
// report): which accounting basis, which datasets and releases the annual factors come from, and
// which zones' factors are estimates. One function, so every output says the same thing.

import { estimatedZones, type GridBasis, type GridFactorsFile } from '../config/grid-factors.ts';

export function gridBasisLabel(file: GridFactorsFile, basis: GridBasis | null): string {
  const on = basis ?? file.defaultBasis;
  const cited = new Set<string>();
  for (const zone of Object.values(file.zones)) {
    const f = zone[on];
    if (!f) continue;
    const base = f.method === 'converted' && f.from ? zone[f.from] : f;
    if (base?.dataset) cited.add(base.dataset);
    if (f.ratio) cited.add(f.ratio.dataset);
    if (f.mix) cited.add(f.mix.factors);
  }
  const sources = [...cited]
    .map((id) => file.datasets[id])
    .filter((d) => d !== undefined)
    .map((d) => `${d.publisher} ${d.title}, ${d.release}`);
  const estimated = estimatedZones(file, on);
  return (
    `location-based, ${on} emissions (annual factors: ${sources.join('; ')}` +
    (estimated.length > 0 ? `; estimates for ${estimated.join(', ')}` : '') +
    '; hourly grid series replace them where configured)'
  );
}
