// A seal over a reference-data entry: the first 16 hex digits of the SHA-256 of its canonical JSON
// (keys sorted, the seal itself left out). Changing a value, its source or its derivation without
// re-sealing makes the data check fail, so every edit of a factor is a deliberate act that goes
// through `joulestream import-grid-factors` (or `--reseal` after a reviewed hand edit).

import { createHash } from 'node:crypto';

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => k !== 'seal' && o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

export function sealOf(entry: object): string {
  return createHash('sha256').update(canonical(entry)).digest('hex').slice(0, 16);
}

/** The entry with its seal recomputed (a copy; the seal is the last key). */
export function sealed<T extends object>(entry: T): T & { seal: string } {
  const { seal: _old, ...rest } = entry as T & { seal?: string };
  return { ...(rest as T), seal: sealOf(rest) };
}
