// Limits every HTTP port of the project gets: a client must send its headers within
// headersTimeoutMs and the whole request within requestTimeoutMs (a slow-loris connection is
// closed, not held forever), idle keep-alive connections close, and connections beyond a bound
// are refused by the kernel backlog rather than held in memory. Bodies are read with a limit on
// the wire and another after decompression, counted chunk by chunk while they stream, so a gzip
// bomb is refused with 413 once the decoded bytes pass the limit, and memory never holds more
// than the limit (plus one zlib chunk).

import type { IncomingMessage, Server } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';

export interface HttpLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** Requests handled at once; more are answered 503 + Retry-After by the handler. */
  maxConcurrent: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  maxConcurrent: 64,
};

/**
 * Options for createServer: Node checks the header and request timeouts only every
 * connectionsCheckingInterval (30 s by default), so a 10 s header timeout would really be up to 40 s.
 */
export function serverOptions(limits: HttpLimits): {
  headersTimeout: number;
  requestTimeout: number;
  connectionsCheckingInterval: number;
} {
  return {
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(limits.headersTimeoutMs / 4))),
  };
}

export function applyLimits(server: Server, limits: HttpLimits): void {
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = 5_000;
  server.maxHeadersCount = 100;
  // Each request needs a connection; a client holding many idle ones gets no more than this.
  server.maxConnections = limits.maxConcurrent * 4;
}

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfterS?: number,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

async function* limited(src: AsyncIterable<Buffer>, max: number, what: string): AsyncGenerator<Buffer> {
  let n = 0;
  for await (const c of src) {
    n += c.length;
    if (n > max) throw new HttpError(413, `${what} exceeds ${max} bytes`);
    yield c;
  }
}

/** The request body, decompressed if gzip, within both limits; HttpError 413/415/400 otherwise. */
export async function readBody(
  req: IncomingMessage,
  maxWireBytes: number,
  maxDecodedBytes: number,
): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (declared > maxWireBytes) throw new HttpError(413, `body of ${declared} bytes exceeds ${maxWireBytes}`);
  const enc = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (enc !== 'identity' && enc !== 'gzip')
    throw new HttpError(415, `content-encoding ${enc} is not supported (use gzip)`);
  const chunks: Buffer[] = [];
  if (enc === 'identity') {
    for await (const c of limited(req, Math.min(maxWireBytes, maxDecodedBytes), 'body')) chunks.push(c);
    return Buffer.concat(chunks);
  }
  const gz = createGunzip();
  const feeding = pipeline(Readable.from(limited(req, maxWireBytes, 'compressed body')), gz);
  try {
    for await (const c of limited(gz, maxDecodedBytes, 'decompressed body')) chunks.push(c);
    await feeding;
  } catch (err) {
    gz.destroy();
    await feeding.catch(() => undefined); // its error is the one being handled here
    if (err instanceof HttpError) throw err;
    throw new HttpError(400, `gzip body does not decompress: ${(err as Error).message}`);
  }
  return Buffer.concat(chunks);
}
