// The Grafana dashboard's SQL with the ClickHouse plugin's macros and the template variables filled
// in the way the plugin fills them, so tests can run it on both ClickHouse versions.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const FILE = fileURLToPath(new URL('../../deploy/grafana/joulestream.json', import.meta.url));

export interface Panel {
  id: number;
  title: string;
  datasource: { type: string };
  targets: { rawSql?: string; expr?: string }[];
}

export function dashboard(): { panels: Panel[]; templating: { list: { name: string; query: string }[] } } {
  return JSON.parse(readFileSync(FILE, 'utf8')) as ReturnType<typeof dashboard>;
}

export function fillMacros(
  sql: string,
  fromMs: number,
  toMs: number,
  vars: Record<string, string[]>,
): string {
  const from = `toDateTime(${Math.floor(fromMs / 1000)})`;
  const to = `toDateTime(${Math.floor(toMs / 1000)})`;
  return sql
    .replace(/\$__timeFilter\((\w+)\)/g, (_, col: string) => `${col} >= ${from} AND ${col} <= ${to}`)
    .replace(/\$__fromTime/g, from)
    .replace(/\$__toTime/g, to)
    .replace(/\$\{(\w+):singlequote\}/g, (_, name: string) =>
      (vars[name] ?? []).map((v) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`).join(','),
    );
}

/** Every ClickHouse panel's SQL, filled. */
export function dashboardSql(
  fromMs: number,
  toMs: number,
  vars: Record<string, string[]>,
): { title: string; sql: string }[] {
  return dashboard()
    .panels.filter((p) => p.datasource.type === 'grafana-clickhouse-datasource')
    .map((p) => ({ title: p.title, sql: fillMacros(p.targets[0]!.rawSql!, fromMs, toMs, vars) }));
}
