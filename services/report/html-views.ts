// The issue-18 sections of the HTML report: agent runs, hardware, hour of day, query complexity
// and the cleaner counterfactual. Full-width inline SVG (viewBox scaled to the page), no scripts;
// every text from data is escaped. Error bars are the p10-p90 spread of Wh per query.

import { esc } from './html.ts';

export interface Issue18Data {
  callsPerRun: {
    calls: number;
    runs: number;
    wh_per_run: number;
    g_co2e_per_run: number;
    hosts_per_run: number;
  }[];
  agents: Record<string, unknown>[];
  topRuns: Record<string, unknown>[];
  hardware: {
    model: string;
    accelerator: string;
    queries: number;
    wh_per_query: number;
    g_co2e_per_query: number;
    wh_per_1k_tokens: number;
    g_co2e_per_1k_tokens: number;
    wh_per_query_p10: number;
    wh_per_query_p90: number;
  }[];
  hours: {
    hour_of_day: number;
    zone: string;
    queries: number;
    g_co2e_per_query: number;
    g_per_kwh: number;
  }[];
  lengths: Record<string, unknown>[];
  scatter: { model: string; accelerator: string; tokens: number; wh: number }[];
  cleaner: Record<string, unknown>[];
}

const PALETTE = [
  '#1b6ca8',
  '#e07b39',
  '#3a9d5d',
  '#b8415a',
  '#7a5cc2',
  '#8c8c3a',
  '#3ab0b8',
  '#666',
  '#d4a017',
  '#4b4b9b',
];
const W = 1200;
const H = 340;
const M = { l: 70, r: 230, t: 16, b: 52 };

const fmt = (v: number): string =>
  !Number.isFinite(v)
    ? '–'
    : Number.isInteger(v)
      ? String(v)
      : Math.abs(v) >= 100
        ? v.toFixed(0)
        : Math.abs(v) >= 1
          ? v.toFixed(2)
          : v.toPrecision(3);

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 5, 10].map((m) => m * p).find((m) => m >= v)!;
}

const svg = (body: string, label: string, height = H) =>
  `<svg viewBox="0 0 ${W} ${height}" preserveAspectRatio="xMinYMin meet" role="img" aria-label="${esc(label)}" class="chart wide">${body}</svg>`;
const empty = (what: string) => `<p class="empty">No ${esc(what)} in this range.</p>`;

function yAxis(yMax: number, label: string, height = H): string {
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const y = M.t + (height - M.t - M.b) * (1 - f);
    return `<line x1="${M.l}" x2="${W - M.r}" y1="${y}" y2="${y}" class="grid"/><text x="${M.l - 6}" y="${y + 4}" text-anchor="end">${fmt(yMax * f)}</text>`;
  });
  const mid = M.t + (height - M.t - M.b) / 2;
  return `${ticks.join('')}<text x="16" y="${mid}" transform="rotate(-90 16 ${mid})" text-anchor="middle">${esc(label)}</text>`;
}

/** Legend entries in the right margin; long names are shortened (the full name is the tooltip). */
function legend(names: string[], right = M.r): string {
  const max = Math.floor((right - 40) / 6.2);
  return names
    .map(
      (n, i) =>
        `<rect x="${W - right + 14}" y="${M.t + i * 18}" width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/><text x="${W - right + 32}" y="${M.t + i * 18 + 10}"><title>${esc(n)}</title>${esc(n.length > max ? n.slice(0, max - 1) + '…' : n)}</text>`,
    )
    .join('');
}

/** "nvidia-h100-sxm5-80gb" -> "h100-sxm5-80gb": the vendor prefix is implied by the part. */
const shortAcc = (a: string) => a.replace(/^(nvidia|amd|intel)-/, '');

/** Bars of runs by number of calls per run. */
export function callsPerRunChart(data: Issue18Data['callsPerRun']): string {
  if (data.length === 0) return empty('agent runs');
  const yMax = niceMax(Math.max(...data.map((d) => d.runs)));
  const slot = (W - M.l - M.r) / data.length;
  const y = (v: number) => M.t + (H - M.t - M.b) * (1 - v / yMax);
  const bars = data.map((d, i) => {
    const x = M.l + slot * i + slot * 0.15;
    return `<rect x="${x}" y="${y(d.runs)}" width="${slot * 0.7}" height="${H - M.b - y(d.runs)}" fill="${PALETTE[0]}" class="bar"><title>${d.calls} calls: ${d.runs} runs, ${fmt(d.wh_per_run)} Wh and ${fmt(d.g_co2e_per_run)} gCO2e per run, ${fmt(d.hosts_per_run)} hosts per run</title></rect><text x="${x + slot * 0.35}" y="${H - M.b + 18}" text-anchor="middle">${d.calls}</text><text x="${x + slot * 0.35}" y="${y(d.runs) - 4}" text-anchor="middle">${d.runs}</text>`;
  });
  return svg(
    yAxis(yMax, 'runs') +
      bars.join('') +
      `<text x="${(M.l + W - M.r) / 2}" y="${H - 10}" text-anchor="middle">calls per run</text>`,
    'distribution of calls per agent run',
  );
}

/** Grouped bars: one group per model, one bar per accelerator, with p10-p90 whiskers. */
export function hardwareChart(
  data: Issue18Data['hardware'],
  metric: 'wh_per_query' | 'g_co2e_per_1k_tokens',
): string {
  if (data.length === 0) return empty('request rows');
  const models = [...new Set(data.map((d) => d.model))].sort();
  const accs = [...new Set(data.map((d) => d.accelerator))].sort();
  const top = (d: Issue18Data['hardware'][number]) =>
    metric === 'wh_per_query' ? Math.max(d[metric], d.wh_per_query_p90) : d[metric];
  const yMax = niceMax(Math.max(...data.map(top)));
  const y = (v: number) => M.t + (H - M.t - M.b) * (1 - v / yMax);
  const slot = (W - M.l - M.r) / models.length;
  const bw = Math.min(48, (slot * 0.8) / accs.length);
  const groups = models.map((m, gi) => {
    const x0 = M.l + slot * gi + (slot - bw * accs.length) / 2;
    const bars = accs.map((a, ai) => {
      const d = data.find((r) => r.model === m && r.accelerator === a);
      if (!d) return '';
      const x = x0 + ai * bw;
      const v = d[metric];
      const whisk =
        metric === 'wh_per_query'
          ? `<line x1="${x + bw / 2}" x2="${x + bw / 2}" y1="${y(d.wh_per_query_p10)}" y2="${y(d.wh_per_query_p90)}" stroke="#222" class="errorbar"/><line x1="${x + bw * 0.3}" x2="${x + bw * 0.7}" y1="${y(d.wh_per_query_p90)}" y2="${y(d.wh_per_query_p90)}" stroke="#222"/><line x1="${x + bw * 0.3}" x2="${x + bw * 0.7}" y1="${y(d.wh_per_query_p10)}" y2="${y(d.wh_per_query_p10)}" stroke="#222"/>`
          : '';
      return `<rect x="${x + 1}" y="${y(v)}" width="${bw - 2}" height="${H - M.b - y(v)}" fill="${PALETTE[ai % PALETTE.length]}" class="bar"><title>${esc(m)} on ${esc(a)}: ${fmt(v)} ${metric === 'wh_per_query' ? `Wh/query (p10–p90 ${fmt(d.wh_per_query_p10)}–${fmt(d.wh_per_query_p90)})` : 'gCO2e per 1k tokens'}, ${d.queries} queries</title></rect>${whisk}`;
    });
    return `${bars.join('')}<text x="${M.l + slot * (gi + 0.5)}" y="${H - M.b + 18}" text-anchor="middle">${esc(m)}</text>`;
  });
  return svg(
    yAxis(yMax, metric === 'wh_per_query' ? 'Wh per query' : 'gCO2e per 1,000 tokens') +
      groups.join('') +
      legend(accs),
    `${metric} by model and accelerator`,
  );
}

/** gCO2e per query by hour of day, one line per zone. */
export function hourOfDayChart(data: Issue18Data['hours']): string {
  if (data.length === 0) return empty('request rows');
  const zones = [...new Set(data.map((d) => d.zone))].sort();
  const yMax = niceMax(Math.max(...data.map((d) => d.g_co2e_per_query)));
  const x = (h: number) => M.l + ((W - M.l - M.r) * h) / 23;
  const y = (v: number) => M.t + (H - M.t - M.b) * (1 - v / yMax);
  const lines = zones.map((z, i) => {
    const pts = data.filter((d) => d.zone === z).sort((a, b) => a.hour_of_day - b.hour_of_day);
    const color = PALETTE[i % PALETTE.length];
    const path = pts
      .map(
        (d, j) => `${j === 0 ? 'M' : 'L'}${x(d.hour_of_day).toFixed(1)},${y(d.g_co2e_per_query).toFixed(1)}`,
      )
      .join(' ');
    const dots = pts
      .map(
        (d) =>
          `<circle cx="${x(d.hour_of_day).toFixed(1)}" cy="${y(d.g_co2e_per_query).toFixed(1)}" r="3.5" fill="${color}"><title>${esc(z)} ${d.hour_of_day}:00 UTC: ${fmt(d.g_co2e_per_query)} g/query at ${fmt(d.g_per_kwh)} g/kWh (${d.queries} queries)</title></circle>`,
      )
      .join('');
    return `<path d="${path}" fill="none" stroke="${color}" stroke-width="2" class="series"/>${dots}`;
  });
  const ticks = [0, 3, 6, 9, 12, 15, 18, 21, 23]
    .map(
      (h) =>
        `<text x="${x(h)}" y="${H - M.b + 18}" text-anchor="middle">${String(h).padStart(2, '0')}:00</text>`,
    )
    .join('');
  return svg(
    yAxis(yMax, 'gCO2e per query') +
      lines.join('') +
      ticks +
      `<text x="${(M.l + W - M.r) / 2}" y="${H - 10}" text-anchor="middle">hour of day (UTC)</text>` +
      legend(zones),
    'gCO2e per query by hour of day and zone',
  );
}

/** Wh against tokens per request, log-log, one colour per model and accelerator. */
export function whVsTokensChart(data: Issue18Data['scatter']): string {
  const pts = data.filter((d) => d.tokens > 0 && d.wh > 0);
  if (pts.length === 0) return empty('request rows');
  const label = (d: { model: string; accelerator: string }) => `${d.model} · ${shortAcc(d.accelerator)}`;
  const series = [...new Set(pts.map(label))].sort();
  const R = 300;
  const lx = (v: number) => Math.log10(v);
  const [x0, x1] = [
    Math.floor(lx(Math.min(...pts.map((d) => d.tokens)))),
    Math.ceil(lx(Math.max(...pts.map((d) => d.tokens)))),
  ];
  const [y0, y1] = [
    Math.floor(lx(Math.min(...pts.map((d) => d.wh)))),
    Math.ceil(lx(Math.max(...pts.map((d) => d.wh)))),
  ];
  const x = (v: number) => M.l + ((W - M.l - R) * (lx(v) - x0)) / Math.max(1, x1 - x0);
  const y = (v: number) => M.t + (H - M.t - M.b) * (1 - (lx(v) - y0) / Math.max(1, y1 - y0));
  const grid: string[] = [];
  for (let e = y0; e <= y1; e++)
    grid.push(
      `<line x1="${M.l}" x2="${W - R}" y1="${y(10 ** e)}" y2="${y(10 ** e)}" class="grid"/><text x="${M.l - 6}" y="${y(10 ** e) + 4}" text-anchor="end">${fmt(10 ** e)}</text>`,
    );
  for (let e = x0; e <= x1; e++)
    grid.push(`<text x="${x(10 ** e)}" y="${H - M.b + 18}" text-anchor="middle">${fmt(10 ** e)}</text>`);
  const dots = pts.map((d) => {
    const c = PALETTE[series.indexOf(label(d)) % PALETTE.length];
    return `<circle cx="${x(d.tokens).toFixed(1)}" cy="${y(d.wh).toFixed(1)}" r="2.2" fill="${c}" fill-opacity="0.55"><title>${esc(d.model)} on ${esc(d.accelerator)}: ${d.tokens} tokens, ${fmt(d.wh)} Wh</title></circle>`;
  });
  const mid = M.t + (H - M.t - M.b) / 2;
  return svg(
    grid.join('') +
      dots.join('') +
      `<text x="16" y="${mid}" transform="rotate(-90 16 ${mid})" text-anchor="middle">Wh per request (log)</text><text x="${(M.l + W - R) / 2}" y="${H - 10}" text-anchor="middle">prompt + completion tokens (log)</text>` +
      legend(series, R),
    'Wh against tokens per model and accelerator',
  );
}

function table(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return empty('rows');
  const cols = Object.keys(rows[0]!);
  const cell = (v: unknown) =>
    typeof v === 'number'
      ? `<td class="num">${fmt(v)}</td>`
      : Array.isArray(v)
        ? `<td>${esc(v.join(', '))}</td>`
        : `<td>${esc(v)}</td>`;
  return `<table class="wide"><thead><tr>${cols.map((c) => `<th>${esc(c)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${cols.map((c) => cell(r[c])).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

/** Per model: Wh per query by prompt bucket (rows) and completion bucket (columns), with counts. */
export function lengthPivots(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return empty('request rows');
  const models = [...new Set(rows.map((r) => String(r.model)))].sort();
  return models
    .map((m) => {
      const mine = rows.filter((r) => r.model === m);
      const pb = [...new Set(mine.map((r) => Number(r.prompt_bucket)))].sort((a, b) => a - b);
      const cb = [...new Set(mine.map((r) => Number(r.completion_bucket)))].sort((a, b) => a - b);
      const cell = (p: number, c: number) => {
        const r = mine.find((x) => Number(x.prompt_bucket) === p && Number(x.completion_bucket) === c);
        return r
          ? `<td class="num" title="p10–p90 ${fmt(Number(r.wh_per_query_p10))}–${fmt(Number(r.wh_per_query_p90))} Wh">${fmt(Number(r.wh_per_query))} <span class="n">(${String(r.queries)})</span></td>`
          : '<td></td>';
      };
      return `<h3>${esc(m)}: Wh per query (queries) by prompt tokens (rows) and completion tokens (columns), bucket lower bounds</h3><table class="wide"><thead><tr><th>prompt \\ completion</th>${cb.map((c) => `<th>${c}+</th>`).join('')}</tr></thead><tbody>${pb
        .map((p) => `<tr><th>${p}+</th>${cb.map((c) => cell(p, c)).join('')}</tr>`)
        .join('')}</tbody></table>`;
    })
    .join('');
}

export function issue18Sections(d: Issue18Data): string {
  return `
<h2>Agent runs: calls per run</h2>${callsPerRunChart(d.callsPerRun)}
<h3>Per agent (runs summed across hosts)</h3>${table(d.agents)}
<h3>Runs with the most CO2e</h3>${table(d.topRuns)}
<h2>Hardware: Wh per query by model and accelerator (bars: mean; whiskers: p10–p90)</h2>${hardwareChart(d.hardware, 'wh_per_query')}
<h2>Hardware: gCO2e per 1,000 tokens by model and accelerator</h2>${hardwareChart(d.hardware, 'g_co2e_per_1k_tokens')}
${table(d.hardware)}
<h2>gCO2e per query by hour of day (UTC) and grid zone</h2>${hourOfDayChart(d.hours)}
<h2>Query complexity: Wh against tokens, per model and accelerator</h2>${whVsTokensChart(d.scatter)}
${lengthPivots(d.lengths)}
<h2>Where and when it would have been cleaner — a counterfactual, not a measurement</h2>
<p class="meta">Each model's measured energy per query, priced with the intensity every zone had at every hour of day in this data, beside what its queries actually emitted.</p>
${table(d.cleaner)}`;
}
