// Health, readiness and metrics over HTTP for every long-running service.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { applyLimits, DEFAULT_HTTP_LIMITS, serverOptions, type HttpLimits } from './http-limits.ts';
import type { Registry } from './metrics.ts';

export interface HealthSource {
  /** Alive: the process loop runs. */
  live(): boolean;
  /** Ready: connected and making progress; the reason says what is missing. */
  ready(): { ok: boolean; reason?: string };
}

export async function startHttp(
  port: number,
  registry: Registry,
  health: HealthSource,
  limits: HttpLimits = DEFAULT_HTTP_LIMITS,
): Promise<Server & { port: number }> {
  const server = createServer(serverOptions(limits), (req, res) => {
    const url = req.url ?? '/';
    if (url === '/metrics') {
      // prom-client collects asynchronously (the default metrics read process state on scrape).
      registry.exposition().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(`metrics collection failed: ${(err as Error).message}\n`);
        },
      );
    } else if (url === '/healthz' || url === '/livez') {
      const ok = health.live();
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok }));
    } else if (url === '/readyz') {
      const r = health.ready();
      res.writeHead(r.ok ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(r));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found: try /metrics, /healthz or /readyz\n');
    }
  });
  // The same header/request timeouts and connection bound as the ingress ports; these stay
  // unauthenticated (metrics and probes), on 127.0.0.1 unless a deployment forwards them.
  applyLimits(server, limits);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return Object.assign(server, { port: (server.address() as AddressInfo).port });
}
