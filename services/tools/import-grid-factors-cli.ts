// `joulestream import-grid-factors`: reads a publisher's CSV, updates data/grid-annual-factors.json
// (or --file), prints what changed. `--reseal` / `--reseal-catalog` re-seal after a reviewed hand edit.

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { checkCatalog, type Catalog } from '../config/device-catalog.ts';
import type { GridFactorsFile } from '../config/grid-factors.ts';
import { sealed } from '../config/seal.ts';
import { importEgrid, importEmber, ImportError, resealGrid } from './import-grid-factors.ts';

const DATA_DIR = fileURLToPath(new URL('../../data/', import.meta.url));

export const IMPORT_HELP = `joulestream import-grid-factors: refresh the annual grid factors from the publisher's CSV

  --ember F.csv    Ember yearly electricity data, long format (CO2 intensity rows: lifecycle)
  --egrid F.csv    eGRID subregion sheet (e.g. SRL23) saved as CSV (SRC2ERTA, SRNGENAN: direct)
  --dataset ID     the dataset id to record, e.g. ember-yearly-2025, egrid2023       (with --ember/--egrid)
  --release TEXT   the release as the publisher names it, e.g. "eGRID2023 (released 2025)"
  [--year N]       data year to take (Ember: latest in the file; eGRID: the YEAR column)
  [--lifecycle-from ratio|mix]  eGRID: lifecycle = direct x the stated ratio (default), or the
                   resource mix (SRCLPR...SROPPR) x the technology factors in the file (both estimates)
  [--direct-from mix]  Ember: also give each country a direct factor: generation by fuel x the
                   file's direct technology factors (an estimate; eGRID direct factors are kept)
  [--file F.json]  the factors file (default data/grid-annual-factors.json)
  [--dry-run]      print the changes, write nothing
  --reseal         re-seal every grid factor after a reviewed hand edit (refused if a value does not
                   follow from its inputs)
  --reseal-catalog re-seal data/device-catalog.json after a reviewed hand edit`;

/** Written as prettier writes it, so \`npm run lint\` stays clean; plain JSON where prettier is not installed. */
async function write(path: string, value: unknown): Promise<void> {
  let text = JSON.stringify(value, null, 2) + '\n';
  try {
    const prettier = await import('prettier');
    text = await prettier.format(text, { ...(await prettier.resolveConfig(path)), parser: 'json' });
  } catch (err) {
    process.stderr.write(`prettier unavailable (${(err as Error).message}); wrote plain JSON\n`);
  }
  writeFileSync(path, text);
}

export async function runImportGridFactors(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      ember: { type: 'string' },
      egrid: { type: 'string' },
      dataset: { type: 'string' },
      release: { type: 'string' },
      year: { type: 'string' },
      'lifecycle-from': { type: 'string' },
      'direct-from': { type: 'string' },
      file: { type: 'string' },
      'dry-run': { type: 'boolean' },
      reseal: { type: 'boolean' },
      'reseal-catalog': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) {
    process.stdout.write(IMPORT_HELP + '\n');
    return;
  }
  if (v['reseal-catalog']) {
    const path = DATA_DIR + 'device-catalog.json';
    const cat = JSON.parse(readFileSync(path, 'utf8')) as Catalog;
    const next = { ...cat, models: cat.models.map((m) => sealed(m)) };
    const problems = checkCatalog(next);
    if (problems.length > 0) throw new ImportError(`not re-sealed: ${problems.join('; ')}`);
    if (!v['dry-run']) await write(path, next);
    process.stdout.write(`re-sealed ${next.models.length} models in ${path}\n`);
    return;
  }
  const path = v.file ?? DATA_DIR + 'grid-annual-factors.json';
  const current = JSON.parse(readFileSync(path, 'utf8')) as GridFactorsFile;
  if (v.reseal) {
    const next = resealGrid(current);
    if (!v['dry-run']) await write(path, next);
    process.stdout.write(`re-sealed the factors in ${path}\n`);
    return;
  }
  const source = v.ember ?? v.egrid;
  if (!source || (v.ember && v.egrid))
    throw new ImportError('give one of --ember F.csv or --egrid F.csv (see --help)');
  if (!v.dataset || !/^[a-z0-9][a-z0-9.-]{0,63}$/.test(v.dataset))
    throw new ImportError('--dataset must be an id of lower-case letters, digits, . and - (e.g. egrid2023)');
  if (!v.release)
    throw new ImportError('--release must name the release, e.g. "2025 release (data to 2024)"');
  const year = v.year === undefined ? undefined : Number(v.year);
  if (year !== undefined && !(Number.isInteger(year) && year >= 1990 && year <= 2100))
    throw new ImportError('--year must be a year');
  const from = v['lifecycle-from'] ?? 'ratio';
  if (from !== 'ratio' && from !== 'mix') throw new ImportError('--lifecycle-from must be ratio or mix');
  if (v['direct-from'] !== undefined && v['direct-from'] !== 'mix')
    throw new ImportError('--direct-from must be mix');
  const opts = {
    dataset: v.dataset,
    release: v.release,
    sourceName: source,
    lifecycleFrom: from,
    ...(v['direct-from'] === 'mix' ? { directFrom: 'mix' as const } : {}),
    ...(year ? { year } : {}),
  } as const;
  const csv = readFileSync(source, 'utf8');
  const { file, changes } = v.ember ? importEmber(current, csv, opts) : importEgrid(current, csv, opts);
  process.stdout.write(changes.length ? changes.join('\n') + '\n' : 'no zone cites this publisher\n');
  if (!v['dry-run']) {
    await write(path, file);
    process.stdout.write(`wrote ${path}\n`);
  }
}
