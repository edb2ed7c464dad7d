import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Tailer } from './tailer.ts';

test('the tailer delivers every line once, in order, across appends, rotation, truncation and restarts', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tail-'));
  const log = join(dir, 'gateway.jsonl');
  const pos = join(dir, 'gateway.pos');
  const got: string[] = [];
  const make = () =>
    new Tailer(
      log,
      pos,
      (lines) => {
        got.push(...lines);
        return Promise.resolve();
      },
      16,
    );

  let t = make();
  assert.equal(await t.poll(), 0); // no file yet: nothing, no error
  writeFileSync(log, 'a1\na2\na3-partial');
  await t.poll();
  assert.deepEqual(got, ['a1', 'a2']); // a partial line waits for its newline
  appendFileSync(log, '-done\na4\n');
  await t.poll();
  assert.deepEqual(got.slice(2), ['a3-partial-done', 'a4']);

  // Restart: a new tailer resumes at the saved position.
  await t.close();
  appendFileSync(log, 'a5\n');
  t = make();
  await t.poll();
  assert.deepEqual(got.slice(4), ['a5']);

  // Rotation by rename: lines written to the old file before the switch are still read first.
  appendFileSync(log, 'a6\n');
  renameSync(log, `${log}.1`);
  appendFileSync(`${log}.1`, 'a7\n');
  writeFileSync(log, 'b1\n');
  await t.poll();
  assert.deepEqual(got.slice(5), ['a6', 'a7', 'b1']);

  // copytruncate: the file is emptied in place and written again.
  appendFileSync(log, 'b2\n');
  await t.poll();
  truncateSync(log, 0);
  appendFileSync(log, 'c1\n');
  await t.poll();
  assert.deepEqual(got.slice(8), ['b2', 'c1']);
  await t.close();
  assert.equal(new Set(got).size, got.length, 'no line twice');
});

test('each delivered line comes with the byte offset it starts at, across chunk boundaries, even inside a UTF-8 character', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tail-'));
  const log = join(dir, 'gateway.jsonl');
  const text = 'first\n\nsécond-line-longer-than-a-chunk\r\nthird\nfourth-partial';
  writeFileSync(log, text);
  const got: [string, number][] = [];
  const t = new Tailer(
    log,
    join(dir, 'pos'),
    (lines, offsets) => {
      lines.forEach((l, i) => got.push([l, offsets[i]!]));
      return Promise.resolve();
    },
    8, // 'first\n\ns' then 'sé' split inside the two-byte é
  );
  await t.poll();
  await t.close();
  const bytes = Buffer.from(text);
  assert.deepEqual(
    got.map(([l]) => l),
    ['first', 'sécond-line-longer-than-a-chunk', 'third'],
  );
  for (const [line, off] of got)
    assert.equal(bytes.subarray(off, off + Buffer.byteLength(line)).toString(), line, `offset of ${line}`);
});
