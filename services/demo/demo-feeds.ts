// How the demo feeds the pipeline the way a real fleet would: its engines export one OTLP span per
// request (vLLM's attribute names) to the receiver, and its GPUs are scraped from a dcgm-exporter
// endpoint. The endpoint here replays simulated seconds, one per scrape, with explicit timestamps.
// Like an OpenTelemetry collector in front of the receiver, the export also carries the agent
// application's own spans (an invoke_agent span per run, a CLIENT chat span per call): the receiver
// must count those, not take them as requests.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OtlpRequest, OtlpSpan } from '../collectors/otlp-map.ts';
import type { SimRequest } from '../sim/fleet-sim.ts';

const nanos = (ms: number): string => `${BigInt(ms) * 1_000_000n}`;

const s = (v: string) => ({ stringValue: v });
const d = (v: number) => ({ doubleValue: v });
const i = (v: number) => ({ intValue: String(v) });
const traceOf = (r: SimRequest): string =>
  r.traceId ?? Buffer.from(r.requestId.padEnd(16, '0').slice(0, 16)).toString('hex');
const spanIdOf = (id: string, side: string): string =>
  Buffer.from(`${side}${id}`.padEnd(8, '0').slice(-8)).toString('hex');

function spanOf(r: SimRequest): OtlpSpan {
  return {
    traceId: traceOf(r),
    spanId: Buffer.from(r.requestId.padEnd(8, '0').slice(-8)).toString('hex'),
    kind: 2,
    name: 'llm_request',
    startTimeUnixNano: nanos(r.tStartMs),
    endTimeUnixNano: nanos(r.tEndMs),
    attributes: [
      { key: 'gen_ai.request.id', value: s(r.requestId) },
      { key: 'gen_ai.response.model', value: s(r.model) },
      { key: 'gen_ai.usage.prompt_tokens', value: i(r.promptTokens ?? 0) },
      { key: 'gen_ai.usage.completion_tokens', value: i(r.completionTokens ?? 0) },
      { key: 'gen_ai.latency.time_in_queue', value: d(0) },
      {
        key: 'gen_ai.latency.time_to_first_token',
        value: d(((r.tFirstTokenMs ?? r.tStartMs) - r.tStartMs) / 1000),
      },
      { key: 'gen_ai.latency.e2e', value: d((r.tEndMs - r.tStartMs) / 1000) },
      { key: 'joulestream.tenant', value: s(r.tenant) },
      { key: 'joulestream.gpus', value: { arrayValue: { values: r.gpus.map((g) => i(g)) } } },
    ],
  };
}

/** The agent application's CLIENT span of one call: the same usage and model as the engine's span. */
function clientSpanOf(r: SimRequest): OtlpSpan {
  return {
    traceId: traceOf(r),
    spanId: spanIdOf(r.requestId, 'c'),
    kind: 3,
    name: `chat ${r.model}`,
    startTimeUnixNano: nanos(r.tStartMs - 5),
    endTimeUnixNano: nanos(r.tEndMs + 5),
    attributes: [
      { key: 'gen_ai.operation.name', value: s('chat') },
      { key: 'gen_ai.request.model', value: s(r.model) },
      { key: 'gen_ai.response.model', value: s(r.model) },
      { key: 'gen_ai.usage.input_tokens', value: i(r.promptTokens ?? 0) },
      { key: 'gen_ai.usage.output_tokens', value: i(r.completionTokens ?? 0) },
      { key: 'gen_ai.conversation.id', value: s(r.conversationId ?? '') },
    ],
  };
}

/** The agent's span of a whole run, exported when its last call has ended. */
function agentSpanOf(calls: readonly SimRequest[]): OtlpSpan {
  const first = calls[0]!;
  return {
    traceId: traceOf(first),
    spanId: spanIdOf(first.requestId, 'a'),
    kind: 1,
    name: `invoke_agent ${first.agentName ?? ''}`,
    startTimeUnixNano: nanos(Math.min(...calls.map((c) => c.tStartMs)) - 50),
    endTimeUnixNano: nanos(Math.max(...calls.map((c) => c.tEndMs)) + 50),
    attributes: [
      { key: 'gen_ai.operation.name', value: s('invoke_agent') },
      { key: 'gen_ai.agent.name', value: s(first.agentName ?? '') },
      { key: 'gen_ai.conversation.id', value: s(first.conversationId ?? '') },
    ],
  };
}

const APP_HOST = 'agent-app-1';

/**
 * POSTs the requests, in the order they end, as OTLP/JSON exports of `batch` engine spans, with the
 * agent application's spans of the same calls in the same export. Returns the engine spans sent
 * and the application spans sent alongside them.
 */
export async function exportSpans(
  requests: readonly SimRequest[],
  url: string,
  batch = 500,
): Promise<{ requests: number; appSpans: number }> {
  const sorted = [...requests].sort((a, b) => a.tEndMs - b.tEndMs);
  const runs = new Map<string, SimRequest[]>();
  for (const r of sorted)
    if (r.traceId && r.agentName) runs.set(r.traceId, [...(runs.get(r.traceId) ?? []), r]);
  let sent = 0;
  let appSpans = 0;
  for (let k = 0; k < sorted.length; k += batch) {
    const byHost = new Map<string, OtlpSpan[]>();
    const app: OtlpSpan[] = [];
    for (const r of sorted.slice(k, k + batch)) {
      let list = byHost.get(r.host);
      if (!list) byHost.set(r.host, (list = []));
      list.push(spanOf(r));
      const run = r.traceId ? runs.get(r.traceId) : undefined;
      if (!run) continue;
      app.push(clientSpanOf(r));
      if (run[run.length - 1] === r) app.push(agentSpanOf(run));
    }
    appSpans += app.length;
    const appResource = {
      resource: {
        attributes: [
          { key: 'service.name', value: { stringValue: 'agent-app' } },
          { key: 'host.name', value: { stringValue: APP_HOST } },
        ],
      },
      scopeSpans: [{ spans: app }],
    };
    const body: OtlpRequest = {
      resourceSpans: [
        ...(app.length > 0 ? [appResource] : []),
        ...[...byHost].map(([host, spans]) => ({
          resource: {
            attributes: [
              { key: 'service.name', value: { stringValue: 'vllm' } },
              { key: 'host.name', value: { stringValue: host } },
            ],
          },
          scopeSpans: [{ spans }],
        })),
      ],
    };
    for (;;) {
      const res = await fetch(url, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      });
      const answer = (await res.json()) as { partialSuccess?: { rejectedSpans?: string } };
      if (res.status === 503) {
        // What an OTLP exporter does: wait as told and send the same batch again.
        await new Promise((r) => setTimeout(r, Number(res.headers.get('retry-after') ?? 1) * 1000));
        continue;
      }
      if (res.status !== 200 || Number(answer.partialSuccess?.rejectedSpans ?? 0) > 0)
        throw new Error(`OTLP export refused: HTTP ${res.status} ${JSON.stringify(answer)}`);
      break;
    }
    sent += Math.min(batch, sorted.length - k);
  }
  return { requests: sent, appSpans };
}

/** A dcgm-exporter stand-in that serves simulated second `n` on its n-th scrape. */
export async function replayingDcgmExporter(
  seconds: number,
  render: (second: number) => string,
): Promise<{ url: string; remaining: () => number; close: () => void }> {
  let next = 0;
  const server: Server = createServer((_req, res) => {
    res.setHeader('content-type', 'text/plain; version=0.0.4');
    res.end(next < seconds ? render(next++) : '');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`,
    remaining: () => seconds - next,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}
