// The native stack (deploy/native/stack.sh) seen from TypeScript: start it, read its environment,
// and stop or start one server for outage runs. Used by the chaos command and the tests.

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Env } from '../config/config.ts';
import type { ServerControl } from './faults.ts';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const STACK = ROOT + 'deploy/native/stack.sh';

export function parseExports(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^export ([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

/** Starts the native stack if needed (installs on first use) and returns its environment. */
export async function nativeStackUp(): Promise<Record<string, string>> {
  await run('bash', [STACK, 'up'], { cwd: ROOT, timeout: 900_000 });
  const { stdout } = await run('bash', [STACK, 'env'], { cwd: ROOT });
  return parseExports(stdout);
}

const stack = async (cmd: string) => void (await run('bash', [STACK, cmd], { cwd: ROOT, timeout: 180_000 }));

export const nativeControl: { kafka: ServerControl; clickhouse: ServerControl } = {
  kafka: { stop: () => stack('kafka-stop'), start: () => stack('kafka-start') },
  clickhouse: { stop: () => stack('clickhouse-stop'), start: () => stack('clickhouse-start') },
};

export type { Env };
