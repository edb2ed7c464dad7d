// A bounded, ordered, on-disk buffer in front of the Kafka producer, for collectors that must not
// lose records when Kafka is unreachable. Every batch is appended to a local segment file first;
// one drainer sends batches to Kafka strictly in order (the idempotent producer retries until the
// broker acknowledges) and only then moves its cursor. When the spool is full, send() refuses with
// SpoolFullError, so the caller can push back upstream (the OTLP receiver answers 503).
//
// Delivery is at least once: a crash after Kafka acknowledged a batch but before the cursor moved
// sends that batch again after a restart; the joiner ignores the repeats as duplicates.

import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Logger } from './logger.ts';
import type { Kafka } from 'kafkajs';
import { Publisher, type OutMessage } from './kafka.ts';

export class SpoolFullError extends Error {
  constructor(bytes: number, max: number) {
    super(`the local spool holds ${bytes} bytes, its limit is ${max}: Kafka has been unreachable too long`);
  }
}

/** What the spool needs of a producer. */
export interface Sender {
  send(topic: string, messages: readonly OutMessage[]): Promise<void>;
}

interface Cursor {
  segment: number;
  offset: number;
}

const SEGMENT_BYTES = 4 * 1024 * 1024;
const segName = (n: number): string => `${String(n).padStart(10, '0')}.seg`;

export class Spool implements Sender {
  private readonly cursorPath: string;
  private writeSeg: number;
  private writeFd: number;
  private writeSize: number;
  private cursor: Cursor;
  private bytes: number;
  private wake: (() => void) | null = null;
  private draining: Promise<void> | null = null;
  private stopped = false;
  private lastError: string | null = null;

  constructor(
    private readonly dir: string,
    private readonly sender: Sender,
    private readonly log: Logger,
    private readonly maxBytes = 256 * 1024 * 1024,
  ) {
    mkdirSync(dir, { recursive: true });
    this.cursorPath = join(dir, 'cursor.json');
    const segs = this.segments();
    this.cursor = existsSync(this.cursorPath)
      ? (JSON.parse(readFileSync(this.cursorPath, 'utf8')) as Cursor)
      : { segment: segs[0] ?? 1, offset: 0 };
    this.writeSeg = segs.length > 0 ? segs[segs.length - 1]! : this.cursor.segment;
    this.writeFd = openSync(join(dir, segName(this.writeSeg)), 'a');
    this.writeSize = statSync(join(dir, segName(this.writeSeg))).size;
    this.bytes = segs.reduce((s, n) => s + statSync(join(dir, segName(n))).size, 0) - this.cursor.offset;
  }

  private segments(): number[] {
    return readdirSync(this.dir)
      .filter((f) => /^\d{10}\.seg$/.test(f))
      .map((f) => Number(f.slice(0, 10)))
      .sort((a, b) => a - b);
  }

  /** Bytes waiting to reach Kafka. */
  pendingBytes(): number {
    return this.bytes;
  }

  status(): { pendingBytes: number; lastError: string | null } {
    return { pendingBytes: this.bytes, lastError: this.lastError };
  }

  /** Durably queues the batch (fsync) and returns; the drainer delivers it in order. */
  send(topic: string, messages: readonly OutMessage[]): Promise<void> {
    if (messages.length === 0) return Promise.resolve();
    const body = Buffer.from(
      JSON.stringify({ topic, messages: messages.map((m) => ({ k: m.key, v: m.value.toString('base64') })) }),
    );
    const rec = Buffer.alloc(4 + body.length);
    rec.writeUInt32BE(body.length, 0);
    body.copy(rec, 4);
    if (this.bytes + rec.length > this.maxBytes)
      return Promise.reject(new SpoolFullError(this.bytes, this.maxBytes));
    if (this.writeSize + rec.length > SEGMENT_BYTES && this.writeSize > 0) {
      closeSync(this.writeFd);
      this.writeSeg++;
      this.writeFd = openSync(join(this.dir, segName(this.writeSeg)), 'a');
      this.writeSize = 0;
    }
    writeSync(this.writeFd, rec);
    fsyncSync(this.writeFd);
    this.writeSize += rec.length;
    this.bytes += rec.length;
    this.wake?.();
    return Promise.resolve();
  }

  /** Starts the drainer (idempotent). */
  start(): void {
    if (!this.draining) this.draining = this.drainLoop();
  }

  /** Waits until everything queued so far has reached Kafka, or the timeout passes. */
  async flush(timeoutMs = 30_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.bytes > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return this.bytes === 0;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.draining;
    closeSync(this.writeFd);
  }

  private saveCursor(): void {
    const tmp = `${this.cursorPath}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.cursor));
    renameSync(tmp, this.cursorPath);
  }

  private async drainLoop(): Promise<void> {
    let backoff = 200;
    while (!this.stopped) {
      const next = this.readNext();
      if (!next) {
        await new Promise<void>((r) => {
          this.wake = r;
          setTimeout(r, 500);
        });
        this.wake = null;
        continue;
      }
      try {
        await this.sender.send(next.topic, next.messages);
        this.lastError = null;
        backoff = 200;
      } catch (err) {
        // Same batch again after a pause: order is kept, nothing is skipped.
        this.lastError = (err as Error).message;
        this.log.warn(
          { err: this.lastError, pendingBytes: this.bytes },
          'spool: Kafka refused a batch; retrying',
        );
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 10_000);
        continue;
      }
      this.cursor = { segment: this.cursor.segment, offset: next.end };
      this.bytes -= next.size;
      this.saveCursor();
    }
  }

  /** The batch at the cursor, moving to the next segment (and deleting the finished one) as needed. */
  private readNext(): { topic: string; messages: OutMessage[]; end: number; size: number } | null {
    for (;;) {
      const path = join(this.dir, segName(this.cursor.segment));
      const size = existsSync(path) ? statSync(path).size : 0;
      if (this.cursor.offset + 4 <= size) {
        const fd = openSync(path, 'r');
        try {
          const head = Buffer.alloc(4);
          const { offset } = this.cursor;
          readExactly(fd, head, offset);
          const len = head.readUInt32BE(0);
          if (offset + 4 + len > size) return null; // a record still being written
          const body = Buffer.alloc(len);
          readExactly(fd, body, offset + 4);
          const rec = JSON.parse(body.toString()) as { topic: string; messages: { k: string; v: string }[] };
          return {
            topic: rec.topic,
            messages: rec.messages.map((m) => ({ key: m.k, value: Buffer.from(m.v, 'base64') })),
            end: offset + 4 + len,
            size: 4 + len,
          };
        } finally {
          closeSync(fd);
        }
      }
      if (this.cursor.segment >= this.writeSeg) return null;
      // This segment is fully delivered and no longer written: remove it and go on.
      if (existsSync(path)) unlinkSync(path);
      this.cursor = { segment: this.cursor.segment + 1, offset: 0 };
      this.saveCursor();
    }
  }
}

function readExactly(fd: number, buf: Buffer, position: number): void {
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) throw new Error('spool segment ended early');
    done += n;
  }
}

/**
 * The sender a collector should use: the Kafka producer itself, or, with JOULESTREAM_SPOOL_DIR
 * set, the producer behind a disk spool. `close` delivers what it can (bounded wait) and stops.
 */
export async function openSender(
  kafka: Kafka,
  spool: { dir: string; maxBytes: number } | null,
  log: Logger,
): Promise<{ sender: Sender; pendingBytes: () => number; close: () => Promise<void> }> {
  const publisher = new Publisher(kafka);
  await publisher.connect();
  if (!spool) return { sender: publisher, pendingBytes: () => 0, close: () => publisher.disconnect() };
  const s = new Spool(spool.dir, publisher, log, spool.maxBytes);
  s.start();
  return {
    sender: s,
    pendingBytes: () => s.pendingBytes(),
    close: async () => {
      if (!(await s.flush(10_000)))
        log.warn(
          { pendingBytes: s.pendingBytes(), dir: spool.dir },
          'spool not empty at shutdown; it is sent on the next start',
        );
      await s.stop();
      await publisher.disconnect();
    },
  };
}
