// Follows a growing log file the way gateways write them: appends, rotation by rename (the old
// file is read to its end before the new one), truncation in place (copytruncate: start again at
// 0), and restarts (the position is saved after each delivered batch, so a restart resumes there;
// a crash between delivery and save repeats lines, which the joiner ignores as duplicates).

import { open, readFile, rename, stat, writeFile, type FileHandle } from 'node:fs/promises';

interface Position {
  ino: number;
  offset: number;
}

export class Tailer {
  private fh: FileHandle | null = null;
  private ino = -1;
  private offset = 0;
  /** Bytes after the last newline: kept as bytes, so a UTF-8 character split by a chunk survives. */
  private partial: Buffer = Buffer.alloc(0);

  constructor(
    private readonly path: string,
    private readonly positionPath: string,
    /**
     * Receives complete lines in file order, with the byte offset each starts at (the source
     * position a dead letter names); the position is saved only after it resolves.
     */
    private readonly deliver: (lines: string[], byteOffsets: number[]) => Promise<void>,
    private readonly chunkBytes = 1 << 20,
  ) {}

  private async savePosition(): Promise<void> {
    const tmp = `${this.positionPath}.tmp`;
    await writeFile(tmp, JSON.stringify({ ino: this.ino, offset: this.offset - this.partial.length }));
    await rename(tmp, this.positionPath); // atomic: a crash leaves the old or the new position
  }

  private async openCurrent(): Promise<boolean> {
    try {
      this.fh = await open(this.path, 'r');
    } catch {
      return false; // not there yet (or between rename and re-create): try next poll
    }
    const st = await this.fh.stat();
    this.ino = st.ino;
    this.offset = 0;
    this.partial = Buffer.alloc(0);
    const saved = await readFile(this.positionPath, 'utf8')
      .then((t) => JSON.parse(t) as Position)
      .catch(() => null);
    if (saved && saved.ino === st.ino && saved.offset <= st.size) this.offset = saved.offset;
    return true;
  }

  /** Reads what is new; returns how many lines were delivered. */
  async poll(): Promise<number> {
    if (!this.fh && !(await this.openCurrent())) return 0;
    let delivered = await this.drain();
    const cur = await stat(this.path).catch(() => null);
    if (cur && cur.ino !== this.ino) {
      // Rotated: the old file is finished (drained above); move to the new one from its start.
      await this.fh!.close();
      this.fh = null;
      if (this.partial.length > 0) {
        await this.deliver([this.partial.toString('utf8')], [this.offset - this.partial.length]);
        delivered++;
        this.partial = Buffer.alloc(0);
      }
      await writeFile(this.positionPath, JSON.stringify({ ino: cur.ino, offset: 0 }));
      if (await this.openCurrent()) delivered += await this.drain();
    } else if (cur && cur.size < this.offset) {
      // Truncated in place: everything before is gone; start over from the top.
      this.offset = 0;
      this.partial = Buffer.alloc(0);
      delivered += await this.drain();
    }
    return delivered;
  }

  private async drain(): Promise<number> {
    let n = 0;
    const buf = Buffer.alloc(this.chunkBytes);
    for (;;) {
      const { bytesRead } = await this.fh!.read(buf, 0, buf.length, this.offset);
      if (bytesRead === 0) return n;
      const pos = this.offset - this.partial.length;
      this.offset += bytesRead;
      const data = Buffer.concat([this.partial, buf.subarray(0, bytesRead)]);
      const complete: string[] = [];
      const offsets: number[] = [];
      // 0x0a never occurs inside a multi-byte UTF-8 character, so splitting bytes at it is safe.
      let start = 0;
      for (let nl = data.indexOf(0x0a); nl >= 0; nl = data.indexOf(0x0a, start)) {
        const line = data.subarray(start, nl).toString('utf8').replace(/\r$/, '');
        if (line !== '') {
          complete.push(line);
          offsets.push(pos + start);
        }
        start = nl + 1;
      }
      this.partial = Buffer.from(data.subarray(start));
      if (complete.length > 0) {
        await this.deliver(complete, offsets);
        n += complete.length;
      }
      await this.savePosition();
    }
  }

  async close(): Promise<void> {
    await this.fh?.close();
    this.fh = null;
  }
}
