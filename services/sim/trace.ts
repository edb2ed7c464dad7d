// The Azure LLM inference trace 2023 (CC-BY 4.0, see data/azure-llm-inference-2023/README.md):
// arrival offsets and token counts.

export interface TraceRow {
  arrivalMs: number;
  promptTokens: number;
  completionTokens: number;
}

/** Parses the trace CSV (TIMESTAMP,ContextTokens,GeneratedTokens); arrivals relative to the first row. */
export function parseTrace(csv: string): TraceRow[] {
  const rows: TraceRow[] = [];
  let t0 = Number.NaN;
  for (const line of csv.split('\n').slice(1)) {
    const [ts, p, c] = line.trim().split(',');
    if (!ts || p === undefined || c === undefined) continue;
    // "2023-11-16 18:17:03.9799600": seven fractional digits; keep milliseconds.
    const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:\.(\d+))?$/.exec(ts);
    if (!m) continue;
    const t = Date.parse(`${m[1]}T${m[2]}.${(m[3] ?? '0').padEnd(3, '0').slice(0, 3)}Z`);
    if (Number.isNaN(t0)) t0 = t;
    rows.push({ arrivalMs: t - t0, promptTokens: Number(p), completionTokens: Number(c) });
  }
  return rows.sort((a, b) => a.arrivalMs - b.arrivalMs);
}
