import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { OutMessage } from './kafka.ts';
import { createLogger } from './logger.ts';
import { Spool, SpoolFullError, type Sender } from './spool.ts';

const log = createLogger('test', 'silent');
const msg = (host: string, seq: number): OutMessage => ({ key: host, value: Buffer.from(`${host}:${seq}`) });

/** A stand-in for Kafka that is down until told otherwise and records what it accepted, in order. */
class FlakyKafka implements Sender {
  up = false;
  accepted: string[] = [];
  send(_topic: string, messages: readonly OutMessage[]): Promise<void> {
    if (!this.up) return Promise.reject(new Error('broker unreachable'));
    this.accepted.push(...messages.map((m) => m.value.toString()));
    return Promise.resolve();
  }
}

test('the spool holds batches while Kafka is down and delivers them in order once it is back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  const kafka = new FlakyKafka();
  const spool = new Spool(dir, kafka, log);
  spool.start();
  for (let i = 0; i < 50; i++) await spool.send('t', [msg('a', i), msg('b', i)]);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(kafka.accepted.length, 0);
  assert.ok(spool.pendingBytes() > 0);
  assert.match(spool.status().lastError ?? '', /unreachable/);
  kafka.up = true;
  assert.ok(await spool.flush(20_000), 'drained');
  const expected = Array.from({ length: 50 }, (_, i) => [`a:${i}`, `b:${i}`]).flat();
  assert.deepEqual(kafka.accepted, expected);
  await spool.stop();
});

test('a restart resumes where the last acknowledged batch ended; segments are removed once delivered', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  const kafka = new FlakyKafka();
  let spool = new Spool(dir, kafka, log);
  const big = Buffer.alloc(300_000, 1).toString('base64'); // a few batches per 4 MB segment
  for (let i = 0; i < 40; i++) await spool.send('t', [{ key: 'a', value: Buffer.from(`${i}|${big}`) }]);
  await spool.stop(); // never started: nothing delivered; the process "restarts"
  assert.ok(readdirSync(dir).filter((f) => f.endsWith('.seg')).length > 1, 'several segments');
  kafka.up = true;
  spool = new Spool(dir, kafka, log);
  spool.start();
  assert.ok(await spool.flush(20_000));
  assert.deepEqual(
    kafka.accepted.map((v) => Number(v.split('|')[0])),
    Array.from({ length: 40 }, (_, i) => i),
  );
  await spool.stop();
  assert.ok(readdirSync(dir).filter((f) => f.endsWith('.seg')).length <= 1, 'delivered segments removed');
  // And again: a third start finds nothing left to send.
  const again = new Spool(dir, kafka, log);
  again.start();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(kafka.accepted.length, 40);
  await again.stop();
});

test('a full spool refuses new batches instead of dropping anything', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  const spool = new Spool(dir, new FlakyKafka(), log, 10_000);
  await spool.send('t', [{ key: 'a', value: Buffer.alloc(4000) }]);
  await assert.rejects(spool.send('t', [{ key: 'a', value: Buffer.alloc(4000) }]), SpoolFullError);
  await spool.stop();
});
