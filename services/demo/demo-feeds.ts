// How the demo feeds the pipeline the way a real fleet would: its engines export one OTLP span per
// request (vLLM's attribute names) to the receiver, and its GPUs are scraped from a dcgm-exporter
// endpoint. The endpoint here replays simulated seconds, one per scrape, with explicit timestamps.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { OtlpRequest, OtlpSpan } from '../collectors/otlp-map.ts';
import type { SimRequest } from '../sim/fleet-sim.ts';

const nanos = (ms: number): string => `${BigInt(ms) * 1_000_000n}`;

function spanOf(r: SimRequest): OtlpSpan {
  const s = (v: string) => ({ stringValue: v });
  const d = (v: number) => ({ doubleValue: v });
  const i = (v: number) => ({ intValue: String(v) });
  return {
    traceId: Buffer.from(r.requestId.padEnd(16, '0').slice(0, 16)).toString('hex'),
    spanId: Buffer.from(r.requestId.padEnd(8, '0').slice(-8)).toString('hex'),
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

/** POSTs the requests, in the order they end, as OTLP/JSON exports of `batch` spans. */
export async function exportSpans(
  requests: readonly SimRequest[],
  url: string,
  batch = 500,
): Promise<number> {
  const sorted = [...requests].sort((a, b) => a.tEndMs - b.tEndMs);
  let sent = 0;
  for (let k = 0; k < sorted.length; k += batch) {
    const byHost = new Map<string, OtlpSpan[]>();
    for (const r of sorted.slice(k, k + batch)) {
      let list = byHost.get(r.host);
      if (!list) byHost.set(r.host, (list = []));
      list.push(spanOf(r));
    }
    const body: OtlpRequest = {
      resourceSpans: [...byHost].map(([host, spans]) => ({
        resource: {
          attributes: [
            { key: 'service.name', value: { stringValue: 'vllm' } },
            { key: 'host.name', value: { stringValue: host } },
          ],
        },
        scopeSpans: [{ spans }],
      })),
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
  return sent;
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
