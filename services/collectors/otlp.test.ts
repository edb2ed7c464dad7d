import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { encodeTraceRequest } from '../../test/support/otlp-proto-encode.ts';
import { mapSpans, type OtlpRequest, type OtlpSpan } from './otlp-map.ts';
import { decodeTraceRequest, encodeTraceResponse, ProtoError } from './otlp-proto.ts';

const fixture = JSON.parse(
  readFileSync(new URL('../../test/fixtures/formats/otlp-vllm-traces.json', import.meta.url), 'utf8'),
) as OtlpRequest;
const instances = new Map([['sglang-8b-b3', { host: 'host-b', gpus: [3] }]]);

test('vLLM and SGLang spans map to request logs; queue time is not GPU time', () => {
  const m = mapSpans(fixture, instances);
  assert.equal(m.ignored, 1); // the health-check span has no GenAI attributes
  assert.deepEqual(m.rejected, []);
  assert.deepEqual(m.requests[0], {
    requestId: 'cmpl-8f14e45fceea167a',
    host: 'host-a',
    gpus: [],
    model: 'meta-llama/Llama-3.1-70B-Instruct',
    tenant: 'unknown',
    status: 'ok',
    tStartMs: 1_700_000_000_250, // arrival + 0.25 s in the queue
    tEndMs: 1_700_000_004_250,
    tFirstTokenMs: 1_700_000_000_500, // arrival + TTFT
    promptTokens: 1187,
    completionTokens: 139,
    traceId: '5b8efff798038103d269b633813fc60c', // groups the calls of one agent run
  });
  const aborted = m.requests[1]!;
  assert.equal(aborted.status, 'error');
  assert.equal(aborted.promptTokens, 64); // newer semantic conventions
  assert.equal(aborted.completionTokens, 0);
  assert.equal(aborted.tFirstTokenMs, null);
  const sg = m.requests[2]!;
  assert.equal(sg.host, 'host-b'); // from the fleet's instance map
  assert.deepEqual(sg.gpus, [3]);
  assert.equal(sg.tenant, 'acme');
  assert.equal(sg.tFirstTokenMs, 1_700_000_003_050);
});

test('spans without a host, start or end are rejected with reasons', () => {
  const m = mapSpans(
    {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.instance.id', value: { stringValue: 'nobody' } }] },
          scopeSpans: [
            { spans: [{ attributes: [{ key: 'gen_ai.request.id', value: { stringValue: 'x' } }] }] },
          ],
        },
        {
          resource: { attributes: [{ key: 'host.name', value: { stringValue: 'h' } }] },
          scopeSpans: [
            {
              spans: [
                { attributes: [{ key: 'gen_ai.request.id', value: { stringValue: 'y' } }] },
                {
                  startTimeUnixNano: '1000000000',
                  attributes: [{ key: 'gen_ai.request.id', value: { stringValue: 'z' } }],
                },
              ],
            },
          ],
        },
      ],
    },
    new Map(),
  );
  assert.deepEqual(
    m.rejected.map((r) => r.reason),
    ['unknown-host', 'invalid-field', 'invalid-field'],
  );
  assert.match(m.rejected[0]!.message, /not in the fleet config/);
});

test('protobuf: the decoder reads hand-encoded bytes exactly', () => {
  // resource_spans { resource { attributes { key "host.name" value { string_value "h" } } }
  //                  scope_spans { spans { name "r" start 1e9 ns, end 2e9 ns,
  //                                        attributes { key "gen_ai.request.id" value { int_value 7 } } } } }
  const kvHost = [0x0a, 9, ...Buffer.from('host.name'), 0x12, 3, 0x0a, 1, 0x68];
  const resource = [0x0a, kvHost.length, ...kvHost];
  const kvId = [0x0a, 17, ...Buffer.from('gen_ai.request.id'), 0x12, 2, 0x18, 7];
  const fixed = (n: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(n);
    return [...b];
  };
  const spanBytes = [
    0x2a,
    1,
    0x72,
    0x39,
    ...fixed(1_000_000_000n),
    0x41,
    ...fixed(2_000_000_000n),
    0x4a,
    kvId.length,
    ...kvId,
  ];
  const scope = [0x12, spanBytes.length, ...spanBytes];
  const rs = [0x0a, resource.length, ...resource, 0x12, scope.length, ...scope];
  const decoded = decodeTraceRequest(Buffer.from([0x0a, rs.length, ...rs]));
  const sp = decoded.resourceSpans![0]!.scopeSpans![0]!.spans![0]!;
  assert.equal(sp.name, 'r');
  assert.equal(sp.startTimeUnixNano, '1000000000');
  assert.equal(sp.endTimeUnixNano, '2000000000');
  assert.deepEqual(sp.attributes, [{ key: 'gen_ai.request.id', value: { intValue: '7' } }]);
  assert.deepEqual(decoded.resourceSpans![0]!.resource!.attributes, [
    { key: 'host.name', value: { stringValue: 'h' } },
  ]);
});

test('protobuf and JSON encodings of the same export give the same request logs', () => {
  const fromProto = mapSpans(decodeTraceRequest(encodeTraceRequest(fixture)), instances);
  assert.deepEqual(fromProto, mapSpans(fixture, instances));
});

test('protobuf: truncated and malformed bytes are ProtoErrors, never hangs or crashes', () => {
  const good = encodeTraceRequest(fixture);
  for (const cut of [1, 5, 50, good.length - 3]) {
    assert.throws(() => decodeTraceRequest(good.subarray(0, cut)), ProtoError, `cut at ${cut}`);
  }
  assert.throws(() => decodeTraceRequest(Buffer.from([0x0f])), ProtoError); // wire type 7
  assert.throws(() => decodeTraceRequest(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])), ProtoError);
});

test('partial-success responses encode as ExportTraceServiceResponse', () => {
  assert.equal(encodeTraceResponse(0, '').length, 0);
  // partial_success { rejected_spans: 2, error_message: "x" }
  assert.deepEqual([...encodeTraceResponse(2, 'x')], [0x0a, 5, 0x08, 2, 0x12, 1, 0x78]);
});

/** One export with a good span and the given bad ones, all on host h. */
const exportWith = (...spans: Record<string, unknown>[]): OtlpRequest => ({
  resourceSpans: [
    {
      resource: { attributes: [{ key: 'host.name', value: { stringValue: 'h' } }] },
      scopeSpans: [{ spans: [span({ id: 'good' }), ...spans.map((s, i) => span({ id: `bad-${i}`, ...s }))] }],
    },
  ],
});
function span(o: {
  id: string;
  startS?: number;
  endS?: number;
  queueS?: number;
  ttftS?: number;
  prompt?: string;
}): OtlpSpan {
  const start = BigInt(o.startS ?? 1_700_000_000) * 1_000_000_000n;
  const end = BigInt(o.endS ?? 1_700_000_002) * 1_000_000_000n;
  return {
    traceId: 't',
    spanId: o.id,
    startTimeUnixNano: String(start),
    endTimeUnixNano: String(end),
    attributes: [
      { key: 'gen_ai.request.id', value: { stringValue: o.id } },
      { key: 'gen_ai.usage.prompt_tokens', value: { intValue: o.prompt ?? '10' } },
      ...(o.queueS !== undefined
        ? [{ key: 'gen_ai.latency.time_in_queue', value: { doubleValue: o.queueS } }]
        : []),
      ...(o.ttftS !== undefined
        ? [{ key: 'gen_ai.latency.time_to_first_token', value: { doubleValue: o.ttftS } }]
        : []),
    ],
  };
}

test('regression: a span with 2^63 prompt tokens is rejected alone; the good span in its batch maps', () => {
  const m = mapSpans(exportWith({ prompt: '9223372036854775808' }), new Map());
  assert.deepEqual(
    m.requests.map((r) => r.requestId),
    ['good'],
  );
  assert.equal(m.rejected.length, 1);
  assert.equal(m.rejected[0]!.reason, 'out-of-range');
  assert.equal(m.rejected[0]!.position, 'resourceSpans[0].scopeSpans[0].spans[1]');
  assert.match(m.rejected[0]!.span, /9223372036854775808/); // the payload is the span itself
});

test('regression: a span that ends before it starts is end-before-start, not a 0 ms request', () => {
  const m = mapSpans(exportWith({ startS: 1_700_000_005, endS: 1_700_000_001 }), new Map());
  assert.deepEqual(
    m.rejected.map((r) => r.reason),
    ['end-before-start'],
  );
  assert.equal(m.requests.length, 1);
});

test('contradicting span times each get their own reason; nothing is clamped', () => {
  const m = mapSpans(
    exportWith(
      { queueS: 5 }, // a 2 s span cannot have waited 5 s in the queue
      { queueS: 0.5, ttftS: 0.2 }, // first token before the request left the queue
      { ttftS: 3 }, // first token after the span ended
      { prompt: '-4' },
      { queueS: -1 },
    ),
    new Map(),
  );
  assert.deepEqual(
    m.rejected.map((r) => r.reason),
    ['queue-exceeds-span', 'ttft-outside-span', 'ttft-outside-span', 'out-of-range', 'invalid-field'],
  );
  assert.deepEqual(
    m.rejected.map((r) => r.position),
    [1, 2, 3, 4, 5].map((i) => `resourceSpans[0].scopeSpans[0].spans[${i}]`),
  );
  const ok = mapSpans(exportWith({ queueS: 0.5, ttftS: 0.7 }), new Map());
  assert.equal(ok.rejected.length, 0);
  assert.equal(ok.requests[1]!.tStartMs, 1_700_000_000_500);
  assert.equal(ok.requests[1]!.tFirstTokenMs, 1_700_000_000_700);
});
