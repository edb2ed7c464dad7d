// The OTLP receiver as a network ingress, with real sockets and the real Kafka behind it: body
// limits before and after decompression (a gzip bomb is refused with 413 while memory stays near
// the limit), header and request timeouts, the bound on concurrent exports, bearer tokens from a
// file rotated without restart, and mutual TLS; and the health port's timeouts.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createGzip, gzipSync } from 'node:zlib';
import { startHttp } from '../services/adapters/http.ts';
import { BearerTokens } from '../services/adapters/ingress-auth.ts';
import { createKafka, ensureTopics, Publisher, topicsFor, type Topics } from '../services/adapters/kafka.ts';
import { createLogger } from '../services/adapters/logger.ts';
import { Registry } from '../services/adapters/metrics.ts';
import { OtlpReceiver, type ReceiverDeps } from '../services/collectors/otlp-receiver.ts';
import { loadConfig } from '../services/config/config.ts';
import { isolatedEnv } from './support/stack.ts';

const fixture = readFileSync(new URL('./fixtures/formats/otlp-vllm-traces.json', import.meta.url), 'utf8');
const log = createLogger('test', 'silent');
let publisher: Publisher;
let topics: Topics;
const servers: Server[] = [];

before(async () => {
  const config = loadConfig(await isolatedEnv());
  const kafka = createKafka(config.kafka, log);
  topics = topicsFor(config.kafka.topicPrefix);
  await ensureTopics(kafka, topics, 2);
  publisher = new Publisher(kafka);
  await publisher.connect();
});
after(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
  await publisher?.disconnect();
});

async function receiver(over: Partial<ReceiverDeps> = {}): Promise<string> {
  const r = new OtlpReceiver({
    publisher,
    topics,
    log,
    metrics: new Registry(),
    instances: new Map(),
    ...over,
  });
  const s = await r.listen(0, '127.0.0.1');
  servers.push(s);
  return `${over.tls ? 'https' : 'http'}://127.0.0.1:${s.port}/v1/traces`;
}

const postJson = (url: string, body: Buffer | string, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });

/** Lowest-level client: write these bytes, return when the server closes, and what it said. */
function raw(
  port: number,
  chunks: string[],
  gapMs: number,
): Promise<{ closedAfterMs: number; reply: string }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let reply = '';
    const sock = connect(port, '127.0.0.1', () => {
      let i = 0;
      const next = () => {
        if (i < chunks.length && !sock.destroyed) {
          sock.write(chunks[i++]!);
          setTimeout(next, gapMs);
        }
      };
      next();
    });
    sock.on('data', (d) => (reply += d.toString()));
    sock.on('error', () => undefined); // the server resetting a slow client is the expected outcome
    sock.on('close', () => resolve({ closedAfterMs: Date.now() - t0, reply }));
  });
}

test('a gzip bomb is refused with 413 and memory stays near the decoded limit', async (t) => {
  const url = await receiver({ maxBodyBytes: 4 << 20, maxDecodedBytes: 8 << 20 });
  // 512 MiB of zeros compress to about 0.5 MiB: within the wire limit, 64x the decoded one.
  const gz = createGzip({ level: 9 });
  const parts: Buffer[] = [];
  gz.on('data', (c: Buffer) => parts.push(c));
  const zeros = Buffer.alloc(1 << 20);
  for (let i = 0; i < 512; i++) gz.write(zeros);
  await new Promise<void>((r) => gz.end(r));
  const bomb = Buffer.concat(parts);
  assert.ok(bomb.length < 4 << 20, `bomb is ${bomb.length} bytes`);
  global.gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 2);
  const res = await postJson(url, bomb, { 'content-encoding': 'gzip' });
  clearInterval(sampler);
  assert.equal(res.status, 413);
  assert.match(((await res.json()) as { message: string }).message, /decompressed body exceeds 8388608/);
  const growthMiB = (peak - base) / (1 << 20);
  t.diagnostic(`bomb ${bomb.length} bytes; RSS grew by ${growthMiB.toFixed(1)} MiB`);
  assert.ok(growthMiB < 64, `RSS grew by ${growthMiB.toFixed(1)} MiB for a 512 MiB bomb`);
});

test('bodies over the wire limit are 413, declared or streamed; a good gzip export still lands', async () => {
  const url = await receiver({ maxBodyBytes: 64 * 1024 });
  const big = Buffer.alloc(100 * 1024, 0x20);
  assert.equal((await postJson(url, big)).status, 413);
  // Without a content-length (chunked), the count while streaming refuses it just the same.
  const chunked = new ReadableStream({
    start(c) {
      for (let i = 0; i < 10; i++) c.enqueue(new Uint8Array(16 * 1024).fill(0x20));
      c.close();
    },
  });
  const res = await fetch(url, {
    method: 'POST',
    body: chunked,
    headers: { 'content-type': 'application/json' },
    duplex: 'half',
  });
  assert.equal(res.status, 413);
  assert.equal((await postJson(url, gzipSync(fixture), { 'content-encoding': 'gzip' })).status, 200);
});

test('a client that sends headers or body too slowly is cut off', async () => {
  const limits = { headersTimeoutMs: 400, requestTimeoutMs: 1200, maxConcurrent: 8 };
  const port = Number(new URL(await receiver({ limits })).port);
  // Headers dribbled one line every 150 ms, never finished.
  const lines = [
    'POST /v1/traces HTTP/1.1\r\n',
    'Host: x\r\n',
    ...Array.from({ length: 40 }, (_, i) => `X-${i}: y\r\n`),
  ];
  const h = await raw(port, lines, 150);
  assert.ok(h.closedAfterMs < 3000, `headers: closed after ${h.closedAfterMs} ms`);
  assert.match(h.reply, /^HTTP\/1.1 408/);
  // Headers complete, then a body that never ends.
  const head =
    'POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n';
  const b = await raw(port, [head, ...Array.from({ length: 60 }, () => ' ')], 100);
  assert.ok(b.closedAfterMs < 4000, `body: closed after ${b.closedAfterMs} ms`);
  // The health port has the same limits.
  const health = await startHttp(
    0,
    new Registry(),
    { live: () => true, ready: () => ({ ok: true }) },
    limits,
  );
  servers.push(health);
  const hh = await raw(health.port, lines, 150);
  assert.ok(hh.closedAfterMs < 3000, `health port: closed after ${hh.closedAfterMs} ms`);
});

test('exports beyond the concurrent bound are told to retry (503 + Retry-After)', async () => {
  const limits = { headersTimeoutMs: 2000, requestTimeoutMs: 3000, maxConcurrent: 2 };
  const url = await receiver({ limits });
  const port = Number(new URL(url).port);
  const head =
    'POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n';
  // Two exports whose bodies are still arriving hold both slots.
  const slow = [raw(port, [head, '{', ' ', ' ', ' '], 400), raw(port, [head, '{', ' ', ' ', ' '], 400)];
  await new Promise((r) => setTimeout(r, 300));
  const third = await postJson(url, fixture);
  assert.equal(third.status, 503);
  assert.ok(Number(third.headers.get('retry-after')) > 0);
  await Promise.all(slow); // let them finish (answered 400 or cut off by the timeout)
  assert.equal((await postJson(url, fixture)).status, 200, 'slots are free again');
});

test('bearer tokens from a file: 401 without or with a wrong one; rotated without restart', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tokens-'));
  const file = join(dir, 'tokens');
  writeFileSync(file, '# exporters\ntoken-a\n');
  const url = await receiver({ auth: { tokens: new BearerTokens(file, 0), mutualTls: false } });
  const none = await postJson(url, fixture);
  assert.equal(none.status, 401);
  assert.equal(none.headers.get('www-authenticate'), 'Bearer');
  assert.equal((await postJson(url, fixture, { authorization: 'Bearer wrong' })).status, 401);
  assert.equal((await postJson(url, fixture, { authorization: 'Bearer token-a' })).status, 200);
  await new Promise((r) => setTimeout(r, 20)); // a later mtime
  writeFileSync(file, 'token-b\n');
  assert.equal((await postJson(url, fixture, { authorization: 'Bearer token-a' })).status, 401);
  assert.equal((await postJson(url, fixture, { authorization: 'Bearer token-b' })).status, 200);
});

test('mutual TLS: 401 without a client certificate, 403 with an untrusted one, 200 with a trusted one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mtls-'));
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=test CA',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
  );
  const signed = (name: string, cn: string, ext?: string) => {
    ssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      `/CN=${cn}`,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
    );
    if (ext) writeFileSync(join(dir, `${name}.ext`), ext);
    ssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '1',
      '-out',
      `${name}.pem`,
      ...(ext ? ['-extfile', `${name}.ext`] : []),
    );
  };
  signed('server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\n');
  signed('client', 'exporter-1');
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=stranger',
    '-keyout',
    'stranger.key',
    '-out',
    'stranger.pem',
  );
  const read = (f: string) => readFileSync(join(dir, f), 'utf8');
  const url = new URL(
    await receiver({
      tls: { cert: read('server.pem'), key: read('server.key'), clientCa: read('ca.pem') },
      auth: { tokens: null, mutualTls: true },
    }),
  );
  const post = (client?: string) =>
    new Promise<number>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port: url.port,
          path: '/v1/traces',
          method: 'POST',
          ca: read('ca.pem'),
          headers: { 'content-type': 'application/json' },
          ...(client ? { cert: read(`${client}.pem`), key: read(`${client}.key`) } : {}),
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end(fixture);
    });
  assert.equal(await post(), 401);
  assert.equal(await post('stranger'), 403);
  assert.equal(await post('client'), 200);
});
