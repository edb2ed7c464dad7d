// `npm run bench:otlp`: the OTLP protobuf decoder (protobufjs over the official protos, in
// otlp-proto.ts) and JSON.parse of the same exports as OTLP/JSON, side by side. In process, no
// servers; not part of the test command. Until commit 307adba it also timed the hand-written
// decoder that protobufjs replaced (figures in docs/dependencies.md).
//
//   npm run bench:otlp -- [--exports 200] [--spans 256] [--seconds 3]
//
// Input: exports like vLLM's, each with one resource (host.name, service.instance.id) and --spans
// GenAI spans of 12 attributes, encoded by protobufjs from the official definitions. Reports
// spans/s (best of three timed passes of --seconds each) and bytes allocated per span (heap growth
// over one pass with the young generation made large enough that no GC runs during it).

import { parseArgs } from 'node:util';
import { cpus } from 'node:os';
import { mapSpans, type OtlpRequest } from '../collectors/otlp-map.ts';
import { decodeTraceRequest as libDecode, encodeTraceRequestPb } from '../collectors/otlp-proto.ts';

const { values: args } = parseArgs({
  options: {
    exports: { type: 'string', default: '200' },
    spans: { type: 'string', default: '256' },
    seconds: { type: 'string', default: '3' },
  },
});
const EXPORTS = Number(args.exports);
const SPANS = Number(args.spans);
const SECONDS = Number(args.seconds);

const kv = (key: string, value: Record<string, unknown>) => ({ key, value });

/** One export of `spans` GenAI spans from host `h`, as OTLP/JSON (strings for 64-bit integers). */
function exportOf(h: number, spans: number): OtlpRequest {
  const t0 = 1_764_547_200_000_000_000n + BigInt(h) * 1_000_000_000n;
  return {
    resourceSpans: [
      {
        resource: {
          attributes: [
            kv('host.name', { stringValue: `host-${h}` }),
            kv('service.instance.id', { stringValue: `vllm-${h}` }),
            kv('service.name', { stringValue: 'vllm' }),
          ],
        },
        scopeSpans: [
          {
            spans: Array.from({ length: spans }, (_, i) => {
              const start = t0 + BigInt(i) * 37_000_000n;
              return {
                traceId: (h * 100_000 + i).toString(16).padStart(32, '0'),
                spanId: i.toString(16).padStart(16, '0'),
                name: 'llm_request',
                startTimeUnixNano: start.toString(),
                endTimeUnixNano: (start + 2_400_000_000n).toString(),
                attributes: [
                  kv('gen_ai.request.id', { stringValue: `cmpl-${h}-${i}` }),
                  kv('gen_ai.response.model', { stringValue: 'meta-llama/Llama-3.1-8B-Instruct' }),
                  kv('gen_ai.request.model', { stringValue: 'meta-llama/Llama-3.1-8B-Instruct' }),
                  kv('gen_ai.usage.prompt_tokens', { intValue: String(300 + (i % 900)) }),
                  kv('gen_ai.usage.completion_tokens', { intValue: String(20 + (i % 400)) }),
                  kv('gen_ai.latency.time_in_queue', { doubleValue: 0.01 * (i % 7) }),
                  kv('gen_ai.latency.time_to_first_token', { doubleValue: 0.08 + 0.001 * (i % 50) }),
                  kv('gen_ai.latency.e2e', { doubleValue: 2.4 }),
                  kv('gen_ai.request.max_tokens', { intValue: '1024' }),
                  kv('gen_ai.request.temperature', { doubleValue: 0.7 }),
                  kv('gen_ai.request.n', { intValue: '1' }),
                  kv('joulestream.gpus', { arrayValue: { values: [{ intValue: String(i % 8) }] } }),
                ],
                status: { code: i % 50 === 0 ? 2 : 1 },
              };
            }),
          },
        ],
      },
    ],
  };
}

const requests = Array.from({ length: EXPORTS }, (_, h) => exportOf(h, SPANS));
const bodies = requests.map((r) => encodeTraceRequestPb(r));
const jsonBodies = requests.map((r) => Buffer.from(JSON.stringify(r)));
const totalSpans = EXPORTS * SPANS;
const instances = new Map<string, { host: string; gpus: number[] }>();

// Both encodings must give the mapper the same request logs before either is timed.
for (let i = 0; i < Math.min(EXPORTS, 5); i++) {
  const b = JSON.stringify(mapSpans(libDecode(bodies[i]!), instances));
  const c = JSON.stringify(mapSpans(JSON.parse(jsonBodies[i]!.toString('utf8')) as OtlpRequest, instances));
  if (b !== c) throw new Error(`protobuf and JSON disagree on export ${i}`);
}

const gc = (globalThis as { gc?: () => void }).gc;

interface Result {
  decoder: string;
  spansPerS: number;
  allocBytesPerSpan: number | null;
  bodyBytes: number;
}

const decoders: [string, (b: Buffer) => OtlpRequest, Buffer[]][] = [
  ['protobufjs + official protos', libDecode, bodies],
  ['OTLP/JSON (JSON.parse)', (b) => JSON.parse(b.toString('utf8')) as OtlpRequest, jsonBodies],
];

/** Spans/s over one timed pass of about SECONDS. */
function timed(decode: (b: Buffer) => OtlpRequest, input: Buffer[]): number {
  gc?.();
  let spans = 0;
  const t0 = performance.now();
  let elapsedMs = 0;
  while (elapsedMs < SECONDS * 1000) {
    for (const b of input) decode(b);
    spans += totalSpans;
    elapsedMs = performance.now() - t0;
  }
  return spans / (elapsedMs / 1000);
}

/** Heap growth over one pass, kept alive so that nothing is collected before it is read. */
function allocated(decode: (b: Buffer) => OtlpRequest, input: Buffer[]): number | null {
  if (!gc) return null;
  gc();
  const before = process.memoryUsage().heapUsed;
  const keep = input.map((b) => decode(b));
  const grown = process.memoryUsage().heapUsed - before;
  if (keep.length !== input.length) throw new Error('unreachable');
  return Math.round(grown / totalSpans);
}

// Warm-up (every function optimised), then three rounds taking turns, so that a machine shared
// with other work slows each decoder alike; the best round of each is reported.
for (const [, decode, input] of decoders) for (const b of input) decode(b);
const best = decoders.map(() => 0);
for (let round = 0; round < 3; round++)
  decoders.forEach(([, decode, input], i) => (best[i] = Math.max(best[i]!, timed(decode, input))));
const results: Result[] = decoders.map(([decoder, decode, input], i) => ({
  decoder,
  spansPerS: Math.round(best[i]!),
  allocBytesPerSpan: allocated(decode, input),
  bodyBytes: input.reduce((a, b) => a + b.length, 0),
}));
console.log(
  `${EXPORTS} exports x ${SPANS} spans; node ${process.version}; ${cpus().length} x ${cpus()[0]?.model ?? '?'}`,
);
console.table(results);
if (!gc) console.log('run with --expose-gc (npm run bench:otlp does) for the allocation column');
