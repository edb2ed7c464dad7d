// `npm run chaos`: the fault scenarios against the native stack, with a summary table. Not part of
// the test command (the tests run the same scenarios with assertions); this prints the figures.
//
//   npm run chaos [-- --only sigkill,scale-out,clickhouse-outage,broker-restart,bad-input] [--out file.json]
//                    [--scale full|quick]
//
// The full scale (the default) is the one the table in docs/operations.md was measured at: 600
// requests, H = 30 s, 10 kills. `--scale quick` is what the test command runs: 200 requests,
// H = 10 s, 3 kills.

import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Env } from '../config/config.ts';
import {
  badInputScenario,
  brokerRestartScenario,
  clickhouseOutageScenario,
  scaleOutScenario,
  sigkillScenario,
  type ChaosResult,
} from './faults.ts';
import { nativeControl, nativeStackUp } from './native-stack.ts';
import { FULL_SCALE, QUICK_SCALE } from './scenario.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ALL = ['bad-input', 'sigkill', 'scale-out', 'clickhouse-outage', 'broker-restart'] as const;

function isolated(env: Env): Env {
  const id = randomBytes(4).toString('hex');
  return {
    ...env,
    CLICKHOUSE_DATABASE: `js_chaos_${id}`,
    KAFKA_TOPIC_PREFIX: `js-chaos-${id}.`,
    JOULESTREAM_GROUP_ID: `js-chaos-${id}`,
    JOULESTREAM_FLEET: ROOT + 'test/fixtures/fleet.test.yaml',
    LOG_LEVEL: 'warn',
  };
}

export function table(results: ChaosResult[]): string {
  const head = [
    'scenario',
    'faults injected',
    'records in',
    'rows out (req + ledger)',
    'lost',
    'duplicated',
    'changed',
    'repeats collapsed',
    'dead-lettered',
    'recovery',
  ];
  const rows = results.map((r) => [
    r.scenario,
    r.faults,
    String(r.recordsIn),
    `${r.requestRows} + ${r.ledgerRows}`,
    String(r.lost),
    String(r.duplicated),
    String(r.changed),
    String(r.collapsedRepeats),
    String(r.deadLettered),
    r.recoveryMs === null ? '–' : `${(r.recoveryMs / 1000).toFixed(1)} s`,
  ]);
  return [head, head.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      out: { type: 'string', default: 'chaos-results.json' },
      scale: { type: 'string', default: 'full' },
    },
  });
  if (values.scale !== 'full' && values.scale !== 'quick')
    throw new Error(`unknown scale ${values.scale}; use full or quick`);
  const scale = values.scale === 'full' ? FULL_SCALE : QUICK_SCALE;
  const only = values.only ? values.only.split(',') : [...ALL];
  for (const o of only)
    if (!(ALL as readonly string[]).includes(o))
      throw new Error(`unknown scenario ${o}; use ${ALL.join(', ')}`);
  if (process.env.KAFKA_BROKERS || process.env.CLICKHOUSE_URL)
    throw new Error(
      'chaos stops and starts servers, so it runs on the native stack only: unset KAFKA_BROKERS and CLICKHOUSE_URL',
    );
  const env: Env = { ...process.env, ...(await nativeStackUp()) };
  const results: ChaosResult[] = [];
  for (const name of only) {
    const t0 = Date.now();
    process.stderr.write(`[chaos] ${name} …\n`);
    const base = isolated(env);
    const r =
      name === 'sigkill'
        ? await sigkillScenario(base, scale)
        : name === 'scale-out'
          ? await scaleOutScenario(base, scale)
          : name === 'clickhouse-outage'
            ? await clickhouseOutageScenario(base, nativeControl.clickhouse, scale)
            : name === 'broker-restart'
              ? await brokerRestartScenario(base, nativeControl.kafka, scale)
              : await badInputScenario(base, scale);
    results.push(r);
    process.stderr.write(`[chaos] ${name}: ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  }
  console.log(table(results));
  const reasons = results.find((r) => r.scenario === 'bad-input')?.reasons;
  if (reasons) console.log(`\ndead letters by reason: ${JSON.stringify(reasons)}`);
  writeFileSync(
    values.out,
    JSON.stringify(
      results.map(({ letters: _l, ...r }) => r),
      null,
      2,
    ) + '\n',
  );
  const bad = results.filter((r) => r.lost + r.duplicated + r.changed > 0);
  if (bad.length > 0) {
    console.error(
      `[chaos] FAILED: ${bad.map((r) => r.scenario).join(', ')} lost, duplicated or changed rows`,
    );
    process.exitCode = 1;
  }
}

main().then(
  () => process.exit(),
  (err: unknown) => {
    console.error(`[chaos] ${(err as Error).message}`);
    process.exit(1);
  },
);
