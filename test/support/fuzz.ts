// Shared pieces of the fuzz tests (services/**/*.fuzz.test.ts): the bounds every fuzzer runs
// under, byte-level mutations of valid inputs, and generators of OTLP exports. Each run uses a new
// random seed; a failure prints the seed and the shrunk input, so it can be replayed with
// fc.assert(..., { seed, path }).

import fc from 'fast-check';
import type {
  OtlpAnyValue,
  OtlpKeyValue,
  OtlpRequest,
  OtlpSpan,
} from '../../services/collectors/otlp-map.ts';

export const FUZZ = {
  /**
   * fast-check parameters: `n` cases, cut short after a time limit so that the whole fuzz set stays
   * well inside the test budget on a loaded 2-core machine (a cut run still passes: fewer cases).
   */
  runs: (n: number): fc.Parameters<unknown> => ({
    numRuns: n,
    interruptAfterTimeLimit: 2000,
    markInterruptAsFailure: false,
  }),
  /** One parser call may take this long at most: a hang or a quadratic blow-up fails. */
  maxCaseMs: 1000,
};

type Mutation =
  | { op: 'flip'; at: number; bits: number }
  | { op: 'truncate'; at: number }
  | { op: 'insert'; at: number; bytes: Uint8Array }
  | { op: 'delete'; at: number; len: number }
  | { op: 'repeat'; at: number; len: number; times: number };

const arbMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bits: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    op: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 16 }) }),
  fc.record({
    op: fc.constant('repeat' as const),
    at: fc.nat(),
    len: fc.integer({ min: 1, max: 16 }),
    times: fc.integer({ min: 2, max: 50 }),
  }),
);

function apply(b: Uint8Array, m: Mutation): Uint8Array {
  const at = b.length === 0 ? 0 : m.at % (b.length + 1);
  switch (m.op) {
    case 'flip': {
      if (b.length === 0) return b;
      const out = Uint8Array.from(b);
      out[at % b.length]! ^= m.bits;
      return out;
    }
    case 'truncate':
      return b.subarray(0, at);
    case 'insert':
      return Uint8Array.from([...b.subarray(0, at), ...m.bytes, ...b.subarray(at)]);
    case 'delete':
      return Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + m.len)]);
    case 'repeat': {
      const piece = b.subarray(at, at + m.len);
      return Uint8Array.from([
        ...b.subarray(0, at),
        ...Array.from({ length: m.times }, () => [...piece]).flat(),
        ...b.subarray(at),
      ]);
    }
  }
}

/** Valid inputs from `valid`, each with one to four byte-level mutations. */
export const mutate = (valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> =>
  fc
    .tuple(valid, fc.array(arbMutation, { minLength: 1, maxLength: 4 }))
    .map(([b, ms]) => ms.reduce(apply, b));

/** Valid text inputs, mutated at the byte level and read back as UTF-8 (invalid bytes become U+FFFD). */
export const mutateText = (valid: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  mutate(valid.map((s) => new Uint8Array(Buffer.from(s, 'utf8')))).map((b) =>
    Buffer.from(b).toString('utf8'),
  );

// --- OTLP exports -------------------------------------------------------------------------------

const GENAI_KEYS = [
  'gen_ai.request.id',
  'gen_ai.response.model',
  'gen_ai.request.model',
  'gen_ai.usage.prompt_tokens',
  'gen_ai.usage.input_tokens',
  'gen_ai.usage.completion_tokens',
  'gen_ai.usage.output_tokens',
  'gen_ai.latency.time_in_queue',
  'gen_ai.latency.time_to_first_token',
  'gen_ai.latency.e2e',
  'joulestream.gpus',
  'joulestream.tenant',
];

const int64 = fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n).map(String);
const nanos = fc.oneof(
  fc.bigInt(1_600_000_000_000_000_000n, 1_900_000_000_000_000_000n).map(String),
  fc.bigInt(0n, 2n ** 64n - 1n).map(String),
);
const hexBytes = (n: number) =>
  fc.oneof(
    fc.uint8Array({ minLength: n, maxLength: n }).map((b) => Buffer.from(b).toString('hex')),
    fc.constant(''),
  );

const arbAnyValue: fc.Arbitrary<OtlpAnyValue> = fc.letrec<{ v: OtlpAnyValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.string({ maxLength: 20 }).map((s) => ({ stringValue: s })),
    fc.constantFrom('0,1', '3', '1,x', '').map((s) => ({ stringValue: s })),
    fc.boolean().map((b) => ({ boolValue: b })),
    int64.map((i) => ({ intValue: i })),
    fc.integer({ min: -10, max: 5000 }).map((i) => ({ intValue: String(i) })),
    fc.double().map((d) => ({ doubleValue: d })),
    fc.array(tie('v'), { maxLength: 4 }).map((values) => ({ arrayValue: { values } })),
    fc.constant({}),
  ),
})).v;

const arbKeyValue: fc.Arbitrary<OtlpKeyValue> = fc.oneof(
  fc.record({ key: fc.constantFrom(...GENAI_KEYS), value: arbAnyValue }),
  fc.record({ key: fc.string({ maxLength: 12 }), value: arbAnyValue }, { requiredKeys: ['key'] }),
);

const arbSpan: fc.Arbitrary<OtlpSpan> = fc.record(
  {
    traceId: hexBytes(16),
    spanId: hexBytes(8),
    name: fc.string({ maxLength: 12 }),
    startTimeUnixNano: nanos,
    endTimeUnixNano: nanos,
    attributes: fc.array(arbKeyValue, { maxLength: 8 }),
    status: fc.record({ code: fc.constantFrom(0, 1, 2), message: fc.string({ maxLength: 8 }) }),
  },
  { requiredKeys: [] },
);

const arbResourceAttrs = fc.array(
  fc.oneof(
    fc.record({
      key: fc.constant('host.name'),
      value: fc.constantFrom('host-a', 'host-b', '').map((s) => ({ stringValue: s })),
    }),
    fc.record({
      key: fc.constant('service.instance.id'),
      value: fc.constantFrom('engine-1', 'nobody').map((s) => ({ stringValue: s })),
    }),
    arbKeyValue,
  ),
  { maxLength: 4 },
);

export const arbOtlpRequest: fc.Arbitrary<OtlpRequest> = fc.record({
  resourceSpans: fc.array(
    fc.record(
      {
        resource: fc.record({ attributes: arbResourceAttrs }),
        scopeSpans: fc.array(fc.record({ spans: fc.array(arbSpan, { maxLength: 4 }) }), { maxLength: 2 }),
      },
      { requiredKeys: ['scopeSpans'] },
    ),
    { maxLength: 3 },
  ),
});
