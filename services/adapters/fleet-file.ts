import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { Fleet } from '../core/fleet.ts';
import { checkCatalog, type Catalog } from '../config/device-catalog.ts';
import { ConfigError } from '../config/errors.ts';
import { parseFleet, type ShippedData } from '../config/fleet-parse.ts';
import {
  annualFactorsOn,
  checkGridFactors,
  type GridBasis,
  type GridFactorsFile,
} from '../config/grid-factors.ts';

const DATA_DIR = fileURLToPath(new URL('../../data/', import.meta.url));

/** A shipped data file, refused when its data check fails: an untraceable factor never reaches a row. */
function readChecked<T>(name: string, check: (raw: unknown) => string[]): T {
  const raw: unknown = JSON.parse(readFileSync(DATA_DIR + name, 'utf8'));
  const problems = check(raw);
  if (problems.length > 0)
    throw new ConfigError(`data/${name} fails its data check: ${problems.slice(0, 5).join('; ')}`);
  return raw as T;
}

export function loadGridFactors(): GridFactorsFile {
  return readChecked<GridFactorsFile>('grid-annual-factors.json', checkGridFactors);
}

/** The shipped models, and the annual factors on one basis (the file's default unless named). */
export function loadShippedData(basis?: GridBasis | null): ShippedData {
  const catalog = readChecked<Catalog>('device-catalog.json', checkCatalog);
  const factors = loadGridFactors();
  const on = basis ?? factors.defaultBasis;
  return { models: catalog.models, annualFactors: annualFactorsOn(factors, on), gridBasis: on };
}

/** Reads a fleet file (YAML or JSON) and validates it; annual factors on `basis` (JOULESTREAM_GRID_BASIS). */
export function loadFleet(path: string, basis?: GridBasis | null): Fleet {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `fleet file ${path} cannot be read (${(err as Error).message}); set JOULESTREAM_FLEET`,
    );
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`fleet file ${path} is not valid YAML: ${(err as Error).message}`);
  }
  return parseFleet(raw, loadShippedData(basis));
}
