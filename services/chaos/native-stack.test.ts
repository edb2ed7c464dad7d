import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseExports, withLock } from './native-stack.ts';

const lockPath = () => join(mkdtempSync(join(tmpdir(), 'lock-')), 'up.lock');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('withLock: concurrent callers never overlap, and each runs once', async () => {
  const path = lockPath();
  let inside = 0;
  let most = 0;
  const order: number[] = [];
  await Promise.all(
    Array.from({ length: 5 }, (_, i) =>
      withLock(path, async () => {
        inside++;
        most = Math.max(most, inside);
        await sleep(30);
        order.push(i);
        inside--;
      }),
    ),
  );
  assert.equal(most, 1);
  assert.deepEqual([...order].sort(), [0, 1, 2, 3, 4]);
  assert.equal(existsSync(path), false, 'released after the last caller');
});

test('withLock: released when fn throws; a lock left by a dead process is taken over', async () => {
  const path = lockPath();
  await assert.rejects(
    withLock(path, () => Promise.reject(new Error('boom'))),
    /boom/,
  );
  assert.equal(existsSync(path), false);
  // The pid of a process that has exited: its lock is stale.
  const dead = spawnSync(process.execPath, [
    '-e',
    'process.stdout.write(String(process.pid))',
  ]).stdout.toString();
  writeFileSync(path, dead);
  assert.equal(await withLock(path, () => Promise.resolve('ran'), 5000), 'ran');
});

test('withLock: a lock held by a live process is waited for, up to the timeout', async () => {
  const path = lockPath();
  writeFileSync(path, String(process.pid));
  await assert.rejects(
    withLock(path, () => Promise.resolve(), 500),
    /still held by pid/,
  );
});

test('parseExports reads the lines stack.sh env prints', () => {
  assert.deepEqual(parseExports('export A_B=1\n  export C=x=y\nnoise\n'), { A_B: '1', C: 'x=y' });
});
