// The Prometheus scraper: polls dcgm-exporter and node_exporter targets, turns their power metrics
// into samples, publishes them keyed by host with per-source heartbeats, dead-letters what it cannot
// use, and measures each target's clock offset from its HTTP Date header.

import { AvroCodec } from '../adapters/avro.ts';
import type { OutMessage, Topics } from '../adapters/kafka.ts';
import type { Logger } from '../adapters/logger.ts';
import type { Sender } from '../adapters/spool.ts';
import type { Registry } from '../adapters/metrics.ts';
import { frameMessages } from '../adapters/power-frames.ts';
import { powerFromScrape, SOURCE, type ScrapeTarget } from './prom-power.ts';
import { parsePromText } from './prom-text.ts';
import { deadLetterMessage, encodeEach, type Unusable } from './dead-letters.ts';

const MAX_SCRAPE_BYTES = 16 * 1024 * 1024;

export interface ScraperDeps {
  publisher: Sender;
  topics: Topics;
  log: Logger;
  metrics: Registry;
  timeoutMs?: number;
  clock?: () => number;
}

export interface ScrapeResult {
  published: number;
  deadLettered: number;
  clockOffsetMs: number | null;
}

export class Scraper {
  private readonly codec = new AvroCodec();
  private readonly now: () => number;
  private readonly m;

  constructor(private readonly deps: ScraperDeps) {
    this.now = deps.clock ?? Date.now;
    const r = deps.metrics;
    this.m = {
      scrapes: r.counter('joulestream_scraper_scrapes_total', 'Scrapes, by target and outcome'),
      published: r.counter('joulestream_scraper_published_total', 'Power samples published, by target'),
      dead: r.counter('joulestream_scraper_dead_letters_total', 'Samples dead-lettered, by reason'),
      offset: r.gauge(
        'joulestream_scraper_clock_offset_ms',
        'Target clock minus ours, from its HTTP Date header (1 s resolution)',
      ),
      duration: r.gauge('joulestream_scraper_scrape_ms', 'Duration of the last scrape, by target'),
    };
  }

  /** One scrape of one target; throws (and counts) when the target cannot be reached. */
  async scrape(target: ScrapeTarget): Promise<ScrapeResult> {
    const t0 = this.now();
    let res: Response;
    let text: string;
    try {
      res = await fetch(target.url, {
        signal: AbortSignal.timeout(this.deps.timeoutMs ?? 10_000),
        headers: { accept: 'text/plain;version=0.0.4' },
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      text = await res.text();
      if (text.length > MAX_SCRAPE_BYTES) throw new Error(`scrape of ${text.length} bytes is too large`);
    } catch (err) {
      this.m.scrapes.inc({ target: target.url, outcome: 'error' });
      throw new Error(`scrape of ${target.url} failed: ${(err as Error).message}`);
    }
    const t1 = this.now();
    const scrapeMs = Math.round((t0 + t1) / 2);
    const date = Date.parse(res.headers.get('date') ?? '');
    const clockOffsetMs = Number.isFinite(date) ? date - scrapeMs : null;
    if (clockOffsetMs !== null) this.m.offset.set(clockOffsetMs, { target: target.url });
    this.m.duration.set(t1 - t0, { target: target.url });

    const scraped = powerFromScrape(parsePromText(text), target, scrapeMs);
    // Each sample is encoded alone: one the wire cannot carry is dead-lettered, the rest publish.
    const enc = encodeEach(
      scraped.samples,
      (s) => this.codec.tryEncode('power', s),
      (s) => s.host,
      (s) => `${target.url} ${s.role}:${s.device}`,
    );
    const samples = enc.kept;
    // Checked one by one above (enc.messages, the single-sample encodings, only prove each fits the
    // wire); one scrape is one instant for every device it reports: one frame per host.
    const messages: OutMessage[] = frameMessages(this.codec, samples);
    // Everything this source has for each host up to the scrape is now sent.
    const newest = new Map<string, number>();
    for (const s of samples) newest.set(s.host, Math.max(newest.get(s.host) ?? -Infinity, s.tMs));
    for (const [host, tMs] of newest)
      messages.push({
        key: host,
        value: this.codec.encode('heartbeat', { host, stream: 'power', tMs, source: SOURCE[target.kind] }),
      });
    await this.deps.publisher.send(this.deps.topics.power, messages);
    const rejected: Unusable[] = [
      ...scraped.rejected.map((r) => ({
        ...r,
        position: target.url,
        payload: r.message,
        ...(target.host ? { key: target.host } : {}),
      })),
      ...enc.unusable,
    ];
    if (rejected.length > 0) {
      for (const r of rejected) this.m.dead.inc({ reason: r.reason });
      this.deps.log.warn({ target: target.url, rejected: rejected.length }, rejected[0]!.message);
      await this.deps.publisher.send(
        this.deps.topics.deadletter,
        rejected.map((r) => deadLetterMessage(this.codec, 'scraper', r, this.now())),
      );
    }
    this.m.scrapes.inc({ target: target.url, outcome: 'ok' });
    this.m.published.inc({ target: target.url }, samples.length);
    return { published: samples.length, deadLettered: rejected.length, clockOffsetMs };
  }

  /** Scrapes every target every intervalMs until the signal aborts; a failing target never stops the others. */
  async run(targets: readonly ScrapeTarget[], intervalMs: number, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const started = this.now();
      await Promise.all(
        targets.map((t) =>
          this.scrape(t).catch((err: unknown) =>
            this.deps.log.warn({ target: t.url }, (err as Error).message),
          ),
        ),
      );
      const wait = Math.max(0, intervalMs - (this.now() - started));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}
