// Agent runs through the OTLP mapper: only the serving engines' spans are requests; the agent
// application's client and agent spans are counted as such and name the run through the trace.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { mapSpans, spanKindOf, spanRole, type OtlpRequest, type OtlpSpan } from './otlp-map.ts';

const fixture = JSON.parse(
  readFileSync(new URL('../../test/fixtures/formats/otlp-agent-run.json', import.meta.url), 'utf8'),
) as OtlpRequest;

const allSpans = (req: OtlpRequest): OtlpSpan[] =>
  (req.resourceSpans ?? []).flatMap((rs) => (rs.scopeSpans ?? []).flatMap((ss) => ss.spans ?? []));

test('an export of 18 model calls with their client and agent spans yields 18 requests', () => {
  const m = mapSpans(fixture, new Map());
  // Counted from the fixture, not written down: every SERVER span is one call.
  const serverSpans = allSpans(fixture).filter((s) => s.kind === 2);
  assert.equal(serverSpans.length, 18);
  assert.equal(m.requests.length, 18);
  assert.deepEqual(m.rejected, []); // the app host "app-1" is in no fleet: nothing was taken as its request
  assert.deepEqual(m.nonServing, { client: 18, agent: 3, internal: 0 });
  assert.equal(m.ignored, 0);
  assert.deepEqual(
    [...new Set(m.requests.map((r) => r.host))].sort(),
    ['gpu-a', 'gpu-b', 'gpu-c'],
    'only serving hosts have requests',
  );
  assert.deepEqual(
    m.requests.map((r) => r.requestId).sort(),
    serverSpans
      .map((s) => s.attributes!.find((a) => a.key === 'gen_ai.request.id')!.value!.stringValue)
      .sort(),
  );
});

test('calls keep their trace id and are enriched with the run’s conversation id and agent name', () => {
  const m = mapSpans(fixture, new Map());
  const byTrace = new Map<string, typeof m.requests>();
  for (const r of m.requests) byTrace.set(r.traceId!, [...(byTrace.get(r.traceId!) ?? []), r]);
  assert.deepEqual(
    [...byTrace.values()].map((calls) => calls.length),
    [6, 7, 5],
  );
  const run = byTrace.get('0e0e47364bf92f3577b34da6a3ce929d')!;
  assert.ok(run.every((r) => r.agentName === 'code-reviewer' && r.conversationId === 'conv-91c2'));
  // A run's calls land on more than one host: the run's energy is a sum across hosts.
  assert.ok(new Set(run.map((r) => r.host)).size > 1);
});

test('without the agent spans in the export, calls keep their trace id but no invented run names', () => {
  const serverOnly: OtlpRequest = {
    resourceSpans: fixture.resourceSpans!.filter(
      (rs) => rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value?.stringValue === 'vllm',
    ),
  };
  const m = mapSpans(serverOnly, new Map());
  assert.equal(m.requests.length, 18);
  assert.ok(
    m.requests.every((r) => r.traceId && r.agentName === undefined && r.conversationId === undefined),
  );
});

test('span roles: kinds by number or name; no kind means an engine that predates span kinds', () => {
  assert.equal(spanKindOf(3), 'client');
  assert.equal(spanKindOf('SPAN_KIND_SERVER'), 'server');
  assert.equal(spanKindOf('9'), 'unspecified');
  const usage = new Map([['gen_ai.usage.input_tokens', { intValue: '5' }]]);
  assert.equal(spanRole({ kind: 2 }, usage), 'request');
  assert.equal(spanRole({}, usage), 'request');
  assert.equal(spanRole({ kind: 'SPAN_KIND_CLIENT' }, usage), 'client');
  assert.equal(spanRole({ kind: 4 }, usage), 'client');
  assert.equal(spanRole({ kind: 1 }, usage), 'internal');
  assert.equal(spanRole({ kind: 2, name: 'execute_tool search' }, new Map()), 'agent');
  assert.equal(spanRole({ kind: 2 }, new Map([['http.route', { stringValue: '/health' }]])), null);
  // An operation name alone (no request id, no usage) is an application's span, not a served call.
  assert.equal(spanRole({}, new Map([['gen_ai.operation.name', { stringValue: 'chat' }]])), 'internal');
});
