// The collectors' bad-input corpus: one data file per class under data/bad-input/, each holding a
// bad record between good ones (or an unusable answer), and classes.json saying what each class is,
// which dead-letter reason it must produce, where its source position points, and how many good
// records around it must still land. The loader validates the manifest; the test
// (test/bad-input-corpus.test.ts) feeds every file through its real collector.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const CORPUS_FORMATS = [
  'otlp-json',
  'otlp-protobuf',
  'jsonl-requests',
  'nvidia-smi-csv',
  'power-jsonl',
  'prometheus',
  'redfish',
  'grid-electricitymaps',
  'grid-csv',
] as const;
export type CorpusFormat = (typeof CORPUS_FORMATS)[number];

export interface CorpusClass {
  id: string;
  format: CorpusFormat;
  what: string;
  reason: string;
  /**
   * Where the dead letter's error text must start: an OTLP span path, `body`, `:N` (the file's path
   * and line N), or `target` (the URL the answer came from).
   */
  position: string;
  file: string;
  /** Good records around the bad one that must still be published (an nvidia-smi row with power and
   * energy is two samples). */
  good: number;
  /** Absolute path of the data file. */
  path: string;
}

export const CORPUS_DIR = fileURLToPath(new URL('../../data/bad-input/', import.meta.url));

export function loadCorpus(dir = CORPUS_DIR): CorpusClass[] {
  const raw = JSON.parse(readFileSync(`${dir}classes.json`, 'utf8')) as unknown;
  if (!Array.isArray(raw)) throw new Error(`${dir}classes.json: expected a list of classes`);
  const ids = new Set<string>();
  return raw.map((c: Record<string, unknown>, i) => {
    const where = `${dir}classes.json[${i}]`;
    for (const k of ['id', 'what', 'reason', 'position', 'file'])
      if (typeof c[k] !== 'string' || c[k] === '')
        throw new Error(`${where}: ${k} must be a non-empty string`);
    if (!(CORPUS_FORMATS as readonly unknown[]).includes(c.format))
      throw new Error(`${where}: format must be one of ${CORPUS_FORMATS.join(', ')}`);
    if (!Number.isInteger(c.good) || (c.good as number) < 0)
      throw new Error(`${where}: good must be a non-negative integer`);
    if (ids.has(c.id as string)) throw new Error(`${where}: duplicate id ${String(c.id)}`);
    ids.add(c.id as string);
    return { ...(c as unknown as Omit<CorpusClass, 'path'>), path: `${dir}${c.file as string}` };
  });
}
