// The OTLP/HTTP trace receiver: `POST /v1/traces` in JSON or protobuf, optionally gzipped, as
// vLLM's `--otlp-traces-endpoint` and any OpenTelemetry collector send it. GenAI spans become
// request logs on Kafka (keyed by host) before the answer goes out. Each span is validated and
// encoded alone: unusable ones are reported as a partial success and dead-lettered with their
// reason and position, and the rest land. Only when Kafka cannot take the records in time is the
// answer 503 with Retry-After, which OTLP exporters retry: upstream waits, nothing is dropped.
// It is a network ingress that writes accounting data, so bodies are bounded on the wire and after
// decompression, slow clients are cut off, concurrent exports are bounded, and bearer tokens and
// mutual TLS can be required (http-limits.ts, ingress-auth.ts).

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createHttpsServer } from 'node:https';
import { AvroCodec } from '../adapters/avro.ts';
import {
  applyLimits,
  DEFAULT_HTTP_LIMITS,
  HttpError,
  readBody,
  serverOptions,
  type HttpLimits,
} from '../adapters/http-limits.ts';
import { authenticate, type IngressAuth } from '../adapters/ingress-auth.ts';
import type { OutMessage, Topics } from '../adapters/kafka.ts';
import type { Logger } from '../adapters/logger.ts';
import { SpoolFullError, type Sender } from '../adapters/spool.ts';
import { otlpLatency, type Registry } from '../adapters/metrics.ts';
import type { RequestLog } from '../core/types.ts';
import { mapSpans, type InstanceMap, type MappedSpans, type OtlpRequest } from './otlp-map.ts';
import { decodeTraceRequest, encodeTraceResponse } from './otlp-proto.ts';
import { deadLetterMessage } from './dead-letters.ts';

type EncodedSpans = MappedSpans & { messages: OutMessage[] };

/**
 * Encodes each request alone: one the wire cannot carry (an int64 beyond 2^53 that slipped past
 * the mapper) joins the rejected spans instead of failing the export with a 503 that the exporter
 * would retry forever while the good spans in it never land.
 */
function encodeEach(codec: AvroCodec, mapped: MappedSpans): EncodedSpans {
  const messages: OutMessage[] = [];
  const requests: RequestLog[] = [];
  const rejected = [...mapped.rejected];
  for (const [i, r] of mapped.requests.entries()) {
    const e = codec.tryEncode('request', r);
    if (e.ok) {
      messages.push({ key: r.host, value: e.value });
      requests.push(r);
    } else
      rejected.push({
        reason: e.reason,
        message: `request ${r.requestId}: ${e.message}`,
        span: JSON.stringify(r),
        position: `request ${i} of the export`,
      });
  }
  return { ...mapped, requests, rejected, messages };
}

export interface ReceiverDeps {
  publisher: Sender;
  topics: Topics;
  log: Logger;
  metrics: Registry;
  instances: InstanceMap;
  /** Largest accepted body on the wire (compressed or not). */
  maxBodyBytes?: number;
  /** Largest body after decompression: a gzip bomb is refused with 413 once past it. */
  maxDecodedBytes?: number;
  /** Header and request timeouts, concurrent requests (the same limits as every HTTP port). */
  limits?: HttpLimits;
  /** Bearer tokens and/or mutual TLS; none: open (say so in the deployment). */
  auth?: IngressAuth;
  /** Serve HTTPS with this certificate; `clientCa` turns on mutual TLS. */
  tls?: { cert: string; key: string; clientCa?: string };
  /** How long Kafka may take to acknowledge before the exporter is told to retry. */
  publishTimeoutMs?: number;
  /** Exports in flight beyond which new ones are told to retry. */
  maxInFlight?: number;
}

export class OtlpReceiver {
  private readonly codec = new AvroCodec();
  private inFlight = 0;
  private readonly limits: HttpLimits;
  private readonly m;

  constructor(private readonly deps: ReceiverDeps) {
    this.limits = deps.limits ?? DEFAULT_HTTP_LIMITS;
    const r = deps.metrics;
    this.m = {
      spans: r.counter('joulestream_otlp_spans_total', 'Spans received, by outcome'),
      exports: r.counter('joulestream_otlp_exports_total', 'Export requests, by HTTP status'),
      dead: r.counter('joulestream_otlp_dead_letters_total', 'Spans dead-lettered, by reason'),
      delay: r.gauge(
        'joulestream_otlp_export_delay_ms',
        'Receipt time minus the newest span end in the last export, by host: export delay plus clock offset (negative: the engine clock is ahead)',
      ),
      ...otlpLatency(r), // histogram: handleS
    };
  }

  listen(port: number, host = '0.0.0.0'): Promise<Server & { port: number }> {
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      void this.handle(req, res);
    };
    const tls = this.deps.tls;
    const server: Server = tls
      ? createHttpsServer(
          {
            ...serverOptions(this.limits),
            cert: tls.cert,
            key: tls.key,
            ...(tls.clientCa
              ? // Verified here, answered in authenticate(): 401/403 with a reason instead of a reset.
                { ca: tls.clientCa, requestCert: true, rejectUnauthorized: false }
              : {}),
          },
          onRequest,
        )
      : createServer(serverOptions(this.limits), onRequest);
    applyLimits(server, this.limits);
    return new Promise((resolve) => {
      server.listen(port, host, () => {
        resolve(Object.assign(server, { port: (server.address() as AddressInfo).port }));
      });
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = performance.now(); // joulestream_otlp_request_seconds
    const proto = (req.headers['content-type'] ?? '').startsWith('application/x-protobuf');
    const reply = (status: number, rejected = 0, message = '', retryAfterS?: number): void => {
      this.m.exports.inc({ status: String(status) });
      this.m.handleS.observe((performance.now() - t0) / 1000, { status });
      if (retryAfterS !== undefined) res.setHeader('retry-after', String(retryAfterS));
      if (status === 200 && proto) {
        res.writeHead(200, { 'content-type': 'application/x-protobuf' });
        res.end(encodeTraceResponse(rejected, message));
        return;
      }
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          status === 200
            ? rejected > 0 || message
              ? { partialSuccess: { rejectedSpans: String(rejected), errorMessage: message } }
              : {}
            : { code: status, message },
        ),
      );
    };
    try {
      if ((req.url ?? '').split('?')[0] !== '/v1/traces')
        throw new HttpError(404, 'only /v1/traces is served');
      if (req.method !== 'POST') throw new HttpError(405, 'use POST');
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
      if (type !== 'application/json' && type !== 'application/x-protobuf')
        throw new HttpError(
          415,
          `content-type ${type || '(none)'}: use application/json or application/x-protobuf`,
        );
      if (this.deps.auth) authenticate(req, this.deps.auth);
      if (this.inFlight >= (this.deps.maxInFlight ?? this.limits.maxConcurrent))
        throw new HttpError(503, 'too many exports in flight; retry later', 1);
      this.inFlight++;
      try {
        const body = await readBody(
          req,
          this.deps.maxBodyBytes ?? 4 * 1024 * 1024,
          this.deps.maxDecodedBytes ?? 16 * 1024 * 1024,
        );
        let parsed: OtlpRequest;
        try {
          parsed = proto ? decodeTraceRequest(body) : (JSON.parse(body.toString('utf8')) as OtlpRequest);
          if (!parsed || typeof parsed !== 'object') throw new Error('not an object');
        } catch (err) {
          const message = `body is not an OTLP ExportTraceServiceRequest: ${(err as Error).message}`;
          // Recorded before the 400, which exporters do not retry: the body is not lost unseen.
          await this.deadLetterBody(body, message);
          throw new HttpError(400, message);
        }
        const mapped = encodeEach(this.codec, mapSpans(parsed, this.deps.instances));
        const received = Date.now();
        const newest = new Map<string, number>();
        for (const r of mapped.requests)
          newest.set(r.host, Math.max(newest.get(r.host) ?? -Infinity, r.tEndMs));
        for (const [host, t] of newest) this.m.delay.set(received - t, { host });
        this.m.spans.inc({ outcome: 'request' }, mapped.requests.length);
        this.m.spans.inc({ outcome: 'ignored' }, mapped.ignored);
        for (const role of ['client', 'agent', 'internal'] as const)
          this.m.spans.inc({ outcome: role }, mapped.nonServing[role]);
        this.m.spans.inc({ outcome: 'rejected' }, mapped.rejected.length);
        await this.publish(mapped);
        reply(
          200,
          mapped.rejected.length,
          mapped.rejected.length > 0
            ? `${mapped.rejected.length} spans rejected; first: ${mapped.rejected[0]!.message}`
            : '',
        );
      } finally {
        this.inFlight--;
      }
    } catch (err) {
      if (err instanceof HttpError) {
        // A refused body may still be streaming in: answer, and close rather than read the rest.
        if (err.status === 413 || err.status === 401 || err.status === 403)
          res.setHeader('connection', 'close');
        if (err.status === 401) res.setHeader('www-authenticate', 'Bearer');
        reply(err.status, 0, err.message, err.retryAfterS);
      } else {
        this.deps.log.error({ err }, 'OTLP export failed');
        reply(500, 0, 'internal error');
      }
    }
  }

  private async deadLetterBody(body: Buffer, message: string): Promise<void> {
    this.m.dead.inc({ reason: 'malformed-otlp' });
    const letter = deadLetterMessage(
      this.codec,
      'otlp-receiver',
      { reason: 'malformed-otlp', message, position: 'body', payload: body },
      Date.now(),
    );
    try {
      await this.deps.publisher.send(this.deps.topics.deadletter, [letter]);
    } catch (err) {
      throw new HttpError(503, `Kafka refused the dead letter (${(err as Error).message}); retry later`, 5);
    }
  }

  private async publish(mapped: EncodedSpans): Promise<void> {
    const { publisher, topics } = this.deps;
    const timeoutMs = this.deps.publishTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new HttpError(503, `Kafka did not acknowledge within ${timeoutMs} ms; retry later`, 5)),
        timeoutMs,
      );
    });
    const dead = mapped.rejected.map((r) => {
      this.m.dead.inc({ reason: r.reason });
      return {
        key: 'unknown',
        value: this.codec.encode('deadletter', {
          reason: r.reason,
          // The source position: where in the export the exporter's bad span sat.
          error: `${r.position}: ${r.message}`,
          stage: 'otlp-receiver',
          topic: null,
          partition: null,
          offset: null,
          key: null,
          payload: Buffer.from(r.span),
          tMs: Date.now(),
        }),
      };
    });
    try {
      await Promise.race([
        Promise.all([
          publisher.send(topics.requests, mapped.messages),
          publisher.send(topics.deadletter, dead),
        ]),
        timeout,
      ]);
    } catch (err) {
      if (err instanceof HttpError) throw err;
      if (err instanceof SpoolFullError) throw new HttpError(503, `${err.message}; retry later`, 30);
      throw new HttpError(503, `Kafka refused the records (${(err as Error).message}); retry later`, 5);
    } finally {
      clearTimeout(timer);
    }
  }
}
