// Optional authentication of an ingress port. Bearer tokens come from a file (one per line, `#`
// comments), re-read when the file changes, so a token is rotated by rewriting the file, without
// a restart. Tokens are compared through their SHA-256 digests in constant time. With mutual TLS
// the TLS layer asks for a client certificate; the check here turns its verdict into a status:
// no certificate 401, one the CA did not sign 403. A missing or unknown token is 401
// (RFC 6750 invalid_token).

import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { HttpError } from './http-limits.ts';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export class BearerTokens {
  private digests: Buffer[] = [];
  private mtimeMs = -1;
  private checkedAtMs = -Infinity;

  constructor(
    private readonly file: string,
    /** How often the file's mtime is looked at, at most. */
    private readonly recheckMs = 1000,
  ) {
    this.reload(Date.now());
    if (this.digests.length === 0) throw new Error(`tokens file ${file} holds no token`);
  }

  private reload(nowMs: number): void {
    this.checkedAtMs = nowMs;
    const st = statSync(this.file);
    if (st.mtimeMs === this.mtimeMs) return;
    const tokens = readFileSync(this.file, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    // An emptied file (a rotation half done) keeps the old tokens rather than locking everyone out.
    if (tokens.length > 0) this.digests = tokens.map(digest);
    this.mtimeMs = st.mtimeMs;
  }

  accepts(token: string, nowMs = Date.now()): boolean {
    if (nowMs - this.checkedAtMs >= this.recheckMs) {
      try {
        this.reload(nowMs);
      } catch {
        // The file is being replaced (rename in progress): keep the tokens read last.
      }
    }
    const d = digest(token);
    let ok = false;
    for (const t of this.digests) ok = timingSafeEqual(t, d) || ok;
    return ok;
  }
}

export interface IngressAuth {
  tokens: BearerTokens | null;
  /** True when the server asks for client certificates (mutual TLS). */
  mutualTls: boolean;
}

/** Throws 401/403 unless the request is authenticated as configured. */
export function authenticate(req: IncomingMessage, auth: IngressAuth): void {
  if (auth.mutualTls) {
    const sock = req.socket as TLSSocket;
    if (!sock.authorized) {
      const cert = sock.getPeerCertificate?.();
      if (!cert || Object.keys(cert).length === 0)
        throw new HttpError(401, 'a client certificate is required (mutual TLS)');
      throw new HttpError(403, `client certificate not trusted: ${String(sock.authorizationError)}`);
    }
  }
  if (auth.tokens) {
    const h = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(h);
    if (!m) throw new HttpError(401, 'missing bearer token (Authorization: Bearer <token>)');
    if (!auth.tokens.accepts(m[1]!)) throw new HttpError(401, 'unknown bearer token');
  }
}
