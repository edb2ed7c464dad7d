// The online fits in ClickHouse (decision record 0016): each fit is inserted before any window it
// applies to closes, and a starting joiner reads its group's fits back, so a restart attributes
// the replayed windows with the same kappa as the first run did (decision record 0011).

import type { ClickHouseClient } from '@clickhouse/client';
import { insertRows } from '../adapters/clickhouse.ts';
import { quote } from '../adapters/sql.ts';
import type { KappaFitRecord } from '../core/kappa-calibration.ts';

/** Fits a start loads at most; at one per model per epoch this is weeks of a large catalog. */
const LOAD_LIMIT = 100_000;

export function loadFitsSql(fitter: string): string {
  // FINAL: a replay may have rewritten a key; the latest version only. No query parameters: 18.16.
  return (
    'SELECT model, effective_from_ms, from_ms, to_ms, kappa, kappa_std_err, r2, windows, ' +
    'prefill_j_per_token, decode_j_per_token, prefill_tokens_per_s FROM kappa_fits FINAL ' +
    `WHERE fitter = ${quote(fitter)} ORDER BY effective_from_ms DESC LIMIT ${LOAD_LIMIT}`
  );
}

export const fitToDb = (fitter: string, f: KappaFitRecord): Record<string, unknown> => ({
  fitter,
  model: f.model,
  effective_from_ms: f.effectiveFromMs,
  from_ms: Math.max(0, f.fromMs),
  to_ms: Math.max(0, f.toMs),
  kappa: f.kappa,
  kappa_std_err: f.kappaStdErr,
  r2: f.r2,
  windows: f.windows,
  prefill_j_per_token: f.prefillJPerToken,
  decode_j_per_token: f.decodeJPerToken,
  prefill_tokens_per_s: f.prefillTokensPerS,
  version: 1,
});

type Db = Record<string, string | number>;

export const fitFromDb = (r: Db): KappaFitRecord => ({
  model: String(r.model),
  // UInt64 arrives quoted in JSONEachRow.
  effectiveFromMs: Number(r.effective_from_ms),
  fromMs: Number(r.from_ms),
  toMs: Number(r.to_ms),
  kappa: Number(r.kappa),
  kappaStdErr: Number(r.kappa_std_err),
  r2: Number(r.r2),
  windows: Number(r.windows),
  prefillJPerToken: Number(r.prefill_j_per_token),
  decodeJPerToken: Number(r.decode_j_per_token),
  prefillTokensPerS: Number(r.prefill_tokens_per_s),
});

export async function loadFits(ch: ClickHouseClient, fitter: string): Promise<KappaFitRecord[]> {
  const rs = await ch.query({ query: loadFitsSql(fitter), format: 'JSONEachRow' });
  return (await rs.json<Db>()).map(fitFromDb);
}

export async function saveFits(
  ch: ClickHouseClient,
  fitter: string,
  fits: readonly KappaFitRecord[],
): Promise<void> {
  await insertRows(
    ch,
    'kappa_fits',
    fits.map((f) => fitToDb(fitter, f)),
  );
}
