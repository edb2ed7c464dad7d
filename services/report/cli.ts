import { createClickHouse } from '../adapters/clickhouse.ts';
import { timeArg } from '../cli/time-arg.ts';
import type { Config } from '../config/config.ts';
import { JoulestreamError } from '../config/errors.ts';
import { perQueryBy, type Filters } from './queries.ts';
import { table } from './table.ts';

export interface ReportArgs {
  from?: string | undefined;
  to?: string | undefined;
  by?: string | undefined;
  format?: string | undefined;
  region?: string[] | undefined;
  facility?: string[] | undefined;
  model?: string[] | undefined;
  tenant?: string[] | undefined;
  database?: string | undefined;
}

export async function runReport(config: Readonly<Config>, args: ReportArgs): Promise<void> {
  const by = args.by ?? 'facility';
  if (by !== 'facility' && by !== 'model' && by !== 'region' && by !== 'tenant') {
    throw new JoulestreamError('--by must be facility, model, region or tenant');
  }
  const format = args.format ?? 'table';
  if (format !== 'table' && format !== 'csv' && format !== 'json')
    throw new JoulestreamError('--format must be table, csv or json');
  const filters: Filters = {
    fromMs: timeArg('from', args.from),
    toMs: timeArg('to', args.to),
    regions: args.region ?? [],
    facilities: args.facility ?? [],
    models: args.model ?? [],
    tenants: args.tenant ?? [],
  };
  const database = args.database ?? config.clickhouse.database;
  const ch = createClickHouse(config.clickhouse, config.clickhouse.reader, database);
  try {
    const rows = await (
      await ch.query({ query: perQueryBy(by, filters), format: 'JSONEachRow' })
    ).json<Record<string, unknown>>();
    if (format === 'json') {
      process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      return;
    }
    const cols = rows[0] ? Object.keys(rows[0]) : [by];
    const cells = rows.map((r) =>
      cols.map((c) => (typeof r[c] === 'number' ? r[c].toPrecision(6) : String(r[c]))),
    );
    if (format === 'csv') {
      const esc = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
      process.stdout.write([cols.join(','), ...cells.map((r) => r.map(esc).join(','))].join('\n') + '\n');
    } else {
      process.stdout.write(table(cols, cells));
    }
  } finally {
    await ch.close();
  }
}
