// The native stack (deploy/native/stack.sh) seen from TypeScript: start it, read its environment,
// and stop or start one server for outage runs. Used by the chaos command and the tests.

import { execFile } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync, rmSync, writeSync } from 'node:fs';
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

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/**
 * Runs `fn` holding an exclusive lock file (created with O_EXCL, holding the owner's pid). Several
 * test files start at once in the concurrent test run, and each asks for the stack: of two
 * `stack.sh up` started together on a fresh stack directory, one failed (both formatted Kafka's
 * storage at once). A lock whose owner is gone (killed mid-start) is taken over.
 */
export async function withLock<T>(path: string, fn: () => Promise<T>, timeoutMs = 900_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let owner = NaN;
      try {
        owner = Number(readFileSync(path, 'utf8'));
      } catch (readErr) {
        // Removed between our open and our read: the owner just released it; try again.
        if ((readErr as NodeJS.ErrnoException).code !== 'ENOENT') throw readErr;
        continue;
      }
      // An empty file is an owner between its open and its write: wait for it like any other.
      if (Number.isInteger(owner) && owner > 0 && !alive(owner)) {
        rmSync(path, { force: true });
        continue;
      }
      if (Date.now() > deadline)
        throw new Error(`${path} is still held by pid ${owner} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(path, { force: true });
  }
}

/** The directory stack.sh keeps its state in (the same rule as the script's). */
export const stackDir = (env: Env = process.env): string => env.JOULESTREAM_STACK_DIR || ROOT + '.stack';

/**
 * Starts the native stack if needed (installs on first use) and returns its environment. Callers
 * in several processes at once are serialised: the first starts it, the others find it running.
 */
export async function nativeStackUp(): Promise<Record<string, string>> {
  const dir = stackDir();
  mkdirSync(dir, { recursive: true });
  return withLock(`${dir}/up.lock`, async () => {
    await run('bash', [STACK, 'up'], { cwd: ROOT, timeout: 900_000 });
    const { stdout } = await run('bash', [STACK, 'env'], { cwd: ROOT });
    return parseExports(stdout);
  });
}

const stack = async (cmd: string) => void (await run('bash', [STACK, cmd], { cwd: ROOT, timeout: 180_000 }));

export const nativeControl: { kafka: ServerControl; clickhouse: ServerControl } = {
  kafka: { stop: () => stack('kafka-stop'), start: () => stack('kafka-start') },
  clickhouse: { stop: () => stack('clickhouse-stop'), start: () => stack('clickhouse-start') },
};

export type { Env };
