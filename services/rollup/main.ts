// `joulestream rollup` (the scheduled service) and `joulestream backfill` (any range, once).

import { createClickHouse } from '../adapters/clickhouse.ts';
import { loadFleet } from '../adapters/fleet-file.ts';
import { startHttp } from '../adapters/http.ts';
import { createLogger } from '../adapters/logger.ts';
import { Registry } from '../adapters/metrics.ts';
import { timeArg } from '../cli/time-arg.ts';
import type { Config } from '../config/config.ts';
import { JoulestreamError } from '../config/errors.ts';
import { Rollup } from './rollup.ts';

function build(config: Readonly<Config>, metrics: Registry) {
  const log = createLogger('rollup', config.logLevel);
  const c = config.clickhouse;
  const writer = createClickHouse(c, c.writer, c.database);
  const admin = c.admin ? createClickHouse(c, c.admin, c.database) : null;
  const rollup = new Rollup({
    writer,
    admin,
    database: c.database,
    fleet: loadFleet(config.fleetFile),
    log,
    metrics,
    settings: config.rollup,
  });
  const close = async () => {
    await writer.close();
    await admin?.close();
  };
  return { log, rollup, close };
}

export async function runBackfill(
  config: Readonly<Config>,
  args: { from?: string | undefined; to?: string | undefined },
): Promise<void> {
  const fromMs = timeArg('from', args.from);
  const toMs = timeArg('to', args.to) ?? Date.now();
  if (fromMs === undefined) throw new JoulestreamError('backfill needs --from (an ISO date or time)');
  const { log, rollup, close } = build(config, new Registry());
  try {
    const r = await rollup.recompute(fromMs, toMs);
    log.info(r, 'backfill done');
    process.stdout.write(`recomputed ${r.hours} hours and ${r.days} days\n`);
  } finally {
    await close();
  }
}

export async function runRollupService(config: Readonly<Config>, once: boolean): Promise<void> {
  const metrics = new Registry();
  const { log, rollup, close } = build(config, metrics);
  if (once) {
    try {
      await rollup.runOnce();
    } finally {
      await close();
    }
    return;
  }
  let lastError: string | null = null;
  const http = await startHttp(
    config.httpPort,
    metrics,
    {
      live: () => true,
      ready: () => (lastError ? { ok: false, reason: lastError } : { ok: true }),
    },
    config.http,
  );
  log.info(
    { port: http.port, intervalMs: config.rollup.intervalMs, trailingMs: config.rollup.trailingMs },
    'rollup started',
  );
  let stopping = false;
  let wake: (() => void) | null = null;
  const stop = () => {
    stopping = true;
    wake?.();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  while (!stopping) {
    try {
      await rollup.runOnce();
      lastError = null;
    } catch (err) {
      lastError = (err as Error).message;
      log.error({ err }, 'rollup run failed; next run at the next interval');
    }
    await new Promise<void>((r) => {
      wake = r;
      setTimeout(r, config.rollup.intervalMs);
    });
  }
  http.close();
  await close();
}
