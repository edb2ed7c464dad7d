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
  private partial = '';

  constructor(
    private readonly path: string,
    private readonly positionPath: string,
    /** Receives complete lines in file order; the position is saved only after it resolves. */
    private readonly deliver: (lines: string[]) => Promise<void>,
    private readonly chunkBytes = 1 << 20,
  ) {}

  private async savePosition(): Promise<void> {
    const tmp = `${this.positionPath}.tmp`;
    await writeFile(
      tmp,
      JSON.stringify({ ino: this.ino, offset: this.offset - Buffer.byteLength(this.partial) }),
    );
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
    this.partial = '';
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
      if (this.partial !== '') {
        await this.deliver([this.partial]);
        delivered++;
        this.partial = '';
      }
      await writeFile(this.positionPath, JSON.stringify({ ino: cur.ino, offset: 0 }));
      if (await this.openCurrent()) delivered += await this.drain();
    } else if (cur && cur.size < this.offset) {
      // Truncated in place: everything before is gone; start over from the top.
      this.offset = 0;
      this.partial = '';
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
      this.offset += bytesRead;
      const text = this.partial + buf.subarray(0, bytesRead).toString('utf8');
      const lines = text.split('\n');
      this.partial = lines.pop()!;
      const complete = lines.map((l) => l.replace(/\r$/, '')).filter((l) => l !== '');
      if (complete.length > 0) {
        await this.deliver(complete);
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
