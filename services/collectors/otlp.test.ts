import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { encodeTraceRequest } from '../../test/support/otlp-proto-encode.ts';
import { mapSpans, type OtlpRequest } from './otlp-map.ts';
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
