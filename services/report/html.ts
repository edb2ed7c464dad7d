// The self-contained HTML report: inline SVG charts and tables, no scripts, no external assets, so
// it opens anywhere (mail, an archive, an air-gapped laptop) and prints as it looks. Every text that
// comes from data is escaped.

import { issue18Sections, type Issue18Data } from './html-views.ts';

export interface ReportData {
  title: string;
  generatedAt: string;
  filters: string;
  overTime: { period_start: string; region: string; g_per_query: number; queries: number }[];
  distribution: { model: string; queries: number; wh: number[] }[];
  boundary: {
    model: string;
    queries: number;
    accelerator_g: number;
    host_g: number;
    idle_g: number;
    overhead_g: number;
    embodied_g: number;
  }[];
  tenants: { tenant: string; queries: number; energy_kwh: number; co2e_location_kg: number }[];
  perQuery: Record<string, unknown>[];
  ledger: {
    measured_kwh: number;
    attributed_kwh: number;
    unattributed_kwh: number;
    max_relative_error: number;
  } | null;
  /** The grid-factor basis the carbon figures use (basis.ts). */
  gridBasis?: string;
  /** Agent runs, hardware, hour of day, query complexity, the counterfactual (html-views.ts). */
  issue18?: Issue18Data;
}

const PALETTE = ['#1b6ca8', '#e07b39', '#3a9d5d', '#b8415a', '#7a5cc2', '#8c8c3a', '#3ab0b8', '#666'];

export function esc(s: unknown): string {
  return String(s)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const fmt = (v: number): string =>
  Number.isInteger(v)
    ? String(v)
    : !Number.isFinite(v)
      ? '–'
      : Math.abs(v) >= 100
        ? v.toFixed(0)
        : Math.abs(v) >= 1
          ? v.toFixed(2)
          : v.toPrecision(3);

/** A "nice" axis maximum: 1, 2 or 5 times a power of ten, at or above v. */
function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v)!;
}

const W = 720;
const H = 300;
const M = { l: 64, r: 150, t: 16, b: 48 };

function axes(yMax: number, yLabel: string): string {
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const y = M.t + (H - M.t - M.b) * (1 - f);
    return `<line x1="${M.l}" x2="${W - M.r}" y1="${y}" y2="${y}" class="grid"/><text x="${M.l - 6}" y="${y + 4}" text-anchor="end">${fmt(yMax * f)}</text>`;
  });
  return `${ticks.join('')}<text x="14" y="${M.t + (H - M.t - M.b) / 2}" transform="rotate(-90 14 ${M.t + (H - M.t - M.b) / 2})" text-anchor="middle">${esc(yLabel)}</text>`;
}

function legend(names: string[]): string {
  return names
    .map(
      (n, i) =>
        `<rect x="${W - M.r + 12}" y="${M.t + i * 18}" width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/><text x="${W - M.r + 30}" y="${M.t + i * 18 + 10}">${esc(n)}</text>`,
    )
    .join('');
}

function svg(body: string, label: string, height = H): string {
  return `<svg viewBox="0 0 ${W} ${height}" width="${W}" height="${height}" role="img" aria-label="${esc(label)}" class="chart">${body}</svg>`;
}

const empty = (what: string) => `<p class="empty">No ${esc(what)} in this range.</p>`;

/** gCO2e per query over time, one line per region. */
export function lineChart(data: ReportData['overTime']): string {
  if (data.length === 0) return empty('rollup data');
  const times = [...new Set(data.map((d) => d.period_start))].sort();
  const regions = [...new Set(data.map((d) => d.region))].sort();
  const yMax = niceMax(Math.max(...data.map((d) => d.g_per_query)));
  const x = (t: string) => M.l + ((W - M.l - M.r) * times.indexOf(t)) / Math.max(1, times.length - 1);
  const y = (v: number) => M.t + (H - M.t - M.b) * (1 - v / yMax);
  const lines = regions.map((r, i) => {
    const pts = data.filter((d) => d.region === r);
    const color = PALETTE[i % PALETTE.length];
    const path = pts
      .map((d, j) => `${j === 0 ? 'M' : 'L'}${x(d.period_start).toFixed(1)},${y(d.g_per_query).toFixed(1)}`)
      .join(' ');
    const dots = pts
      .map(
        (d) =>
          `<circle cx="${x(d.period_start).toFixed(1)}" cy="${y(d.g_per_query).toFixed(1)}" r="3" fill="${color}"><title>${esc(r)} ${esc(d.period_start)}: ${fmt(d.g_per_query)} g/query (${d.queries} queries)</title></circle>`,
      )
      .join('');
    return `<path d="${path}" fill="none" stroke="${color}" stroke-width="2" class="series"/>${dots}`;
  });
  const ends = times.length > 1 ? [times[0]!, times[times.length - 1]!] : [times[0]!];
  const labels = ends
    .map(
      (t, i) =>
        `<text x="${x(t)}" y="${H - M.b + 18}" text-anchor="${i === 0 ? 'start' : 'end'}">${esc(t)}</text>`,
    )
    .join('');
  return svg(
    axes(yMax, 'gCO2e per query') + lines.join('') + labels + legend(regions),
    'gCO2e per query over time by region',
  );
}

/** Box plots of Wh per query per model: whiskers at p5/p95, box p25–p75, line at the median. */
export function boxPlot(data: ReportData['distribution']): string {
  if (data.length === 0) return empty('requests');
  const yMax = niceMax(Math.max(...data.map((d) => d.wh[4] ?? 0)));
  const y = (v: number) => M.t + (H - M.t - M.b) * (1 - v / yMax);
  const slot = (W - M.l - M.r) / data.length;
  const boxes = data.map((d, i) => {
    const [p5, p25, p50, p75, p95] = d.wh as [number, number, number, number, number];
    const cx = M.l + slot * (i + 0.5);
    const bw = Math.min(60, slot * 0.5);
    const color = PALETTE[i % PALETTE.length];
    return `<g class="box"><title>${esc(d.model)}: median ${fmt(p50)} Wh, p5–p95 ${fmt(p5)}–${fmt(p95)} Wh, ${d.queries} queries</title>
<line x1="${cx}" x2="${cx}" y1="${y(p5)}" y2="${y(p95)}" stroke="#333"/>
<rect x="${cx - bw / 2}" y="${y(p75)}" width="${bw}" height="${Math.max(1, y(p25) - y(p75))}" fill="${color}" fill-opacity="0.6" stroke="#333"/>
<line x1="${cx - bw / 2}" x2="${cx + bw / 2}" y1="${y(p50)}" y2="${y(p50)}" stroke="#000" stroke-width="2"/>
<text x="${cx}" y="${H - M.b + 18}" text-anchor="middle">${esc(d.model)}</text></g>`;
  });
  return svg(axes(yMax, 'Wh per query') + boxes.join(''), 'distribution of energy per query per model');
}

const BOUNDARIES = ['accelerator_g', 'host_g', 'idle_g', 'overhead_g', 'embodied_g'] as const;

/** Stacked bars per model: gCO2e per query by boundary. */
export function stackedBars(data: ReportData['boundary']): string {
  if (data.length === 0) return empty('rollup data');
  const total = (d: ReportData['boundary'][number]) => BOUNDARIES.reduce((a, k) => a + d[k], 0);
  const yMax = niceMax(Math.max(...data.map(total)));
  const h = (v: number) => ((H - M.t - M.b) * v) / yMax;
  const slot = (W - M.l - M.r) / data.length;
  const bars = data.map((d, i) => {
    const bw = Math.min(70, slot * 0.6);
    const x = M.l + slot * (i + 0.5) - bw / 2;
    let top = H - M.b;
    const segs = BOUNDARIES.map((k, j) => {
      const hh = h(d[k]);
      top -= hh;
      return `<rect x="${x}" y="${top}" width="${bw}" height="${hh}" fill="${PALETTE[j]}" class="segment"><title>${esc(d.model)} ${k.replace('_g', '')}: ${fmt(d[k])} g/query</title></rect>`;
    });
    return `${segs.join('')}<text x="${x + bw / 2}" y="${H - M.b + 18}" text-anchor="middle">${esc(d.model)}</text>`;
  });
  return svg(
    axes(yMax, 'gCO2e per query') + bars.join('') + legend(BOUNDARIES.map((b) => b.replace('_g', ''))),
    'boundary breakdown per model',
  );
}

/** Horizontal bars: the top tenants by emissions. */
export function tenantBars(data: ReportData['tenants']): string {
  if (data.length === 0) return empty('tenants');
  const xMax = niceMax(Math.max(...data.map((d) => d.co2e_location_kg)));
  const rowH = 24;
  const left = 160;
  const bars = data.map((d, i) => {
    const y = M.t + i * rowH;
    const w = ((W - left - 90) * d.co2e_location_kg) / xMax;
    return `<text x="${left - 6}" y="${y + rowH * 0.7}" text-anchor="end">${esc(d.tenant.length > 24 ? d.tenant.slice(0, 23) + '…' : d.tenant)}</text><rect x="${left}" y="${y + 2}" width="${Math.max(1, w)}" height="${rowH - 4}" fill="${PALETTE[0]}" class="bar"><title>${esc(d.tenant)}: ${fmt(d.co2e_location_kg)} kg CO2e, ${fmt(d.energy_kwh)} kWh, ${d.queries} queries</title></rect><text x="${left + w + 4}" y="${y + rowH * 0.7}">${fmt(d.co2e_location_kg)} kg</text>`;
  });
  return svg(bars.join(''), 'top tenants by CO2e', M.t + data.length * rowH + 8);
}

function htmlTable(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return empty('rows');
  const cols = Object.keys(rows[0]!);
  const cell = (v: unknown) =>
    typeof v === 'number' ? `<td class="num">${fmt(v)}</td>` : `<td>${esc(v)}</td>`;
  return `<table><thead><tr>${cols.map((c) => `<th>${esc(c)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${cols.map((c) => cell(r[c])).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

export function renderHtml(d: ReportData): string {
  const l = d.ledger;
  const ledger = l
    ? `<p>Measured <b>${fmt(l.measured_kwh)} kWh</b>: attributed ${fmt(l.attributed_kwh)} kWh, unattributed ${fmt(l.unattributed_kwh)} kWh; largest conservation error ${l.max_relative_error.toExponential(1)}.</p>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(d.title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px auto;max-width:1280px;padding:0 16px;color:#222}
svg.wide{width:100%;height:auto;display:block}span.n{color:#888;font-size:11px}table.wide{width:100%}h3{font-size:15px;margin-top:18px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}
.chart text{font-size:11px;fill:#333}.chart .grid{stroke:#e4e4e4}
table{border-collapse:collapse;font-size:12px}th,td{padding:3px 8px;border-bottom:1px solid #ddd;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}.meta{color:#666}.empty{color:#999}
</style></head><body>
<h1>${esc(d.title)}</h1>
<p class="meta">Generated ${esc(d.generatedAt)} · ${esc(d.filters)}</p>
${ledger}
<h2>gCO2e per query over time, by region</h2>${lineChart(d.overTime)}
<h2>Energy per query, by model (Wh; box p25–p75, whiskers p5–p95)</h2>${boxPlot(d.distribution)}
<h2>Boundary breakdown (gCO2e per query)</h2>${stackedBars(d.boundary)}
<h2>Top tenants by CO2e</h2>${tenantBars(d.tenants)}
${d.issue18 ? issue18Sections(d.issue18) : ''}
<h2>Per query</h2>${htmlTable(d.perQuery)}
<p class="meta">Location-based CO2e; embodied emissions amortised per GPU-second. Method: docs/method.md.</p>
${d.gridBasis ? `<p class="meta">Grid factors: ${esc(d.gridBasis)}</p>` : ''}
</body></html>
`;
}
