import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { DeviceModel, Fleet } from '../core/fleet.ts';
import { ConfigError } from '../config/errors.ts';
import { parseFleet, type ShippedData } from '../config/fleet-parse.ts';

const DATA_DIR = fileURLToPath(new URL('../../data/', import.meta.url));

export function loadShippedData(): ShippedData {
  const catalog = JSON.parse(readFileSync(DATA_DIR + 'device-catalog.json', 'utf8')) as {
    models: DeviceModel[];
  };
  const factors = JSON.parse(readFileSync(DATA_DIR + 'grid-annual-factors.json', 'utf8')) as {
    zones: Record<string, { gPerKWh: number }>;
  };
  return {
    models: catalog.models,
    annualFactors: Object.fromEntries(Object.entries(factors.zones).map(([k, v]) => [k, v.gPerKWh])),
  };
}

/** Reads a fleet file (YAML or JSON) and validates it. */
export function loadFleet(path: string): Fleet {
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
  return parseFleet(raw, loadShippedData());
}
