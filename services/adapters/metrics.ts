// The Prometheus registry of every service, on prom-client (the Node ecosystem's standard client):
// counters, gauges and histograms, the default process and event-loop metrics, and the exposition
// /metrics serves. The small interface (counter/gauge/histogram, inc/set/get/remove/observe) is
// kept so that callers name label keys at the call, not at registration.

import client from 'prom-client';

export type Labels = Readonly<Record<string, string | number>>;

/** The label set as one map key; prom-client hashes label sets the same way (keys sorted). */
const keyOf = (labels: Labels): string =>
  Object.keys(labels)
    .sort()
    .map((k) => `${k}=${String(labels[k])}`)
    .join('\u0000');

const escapeLabel = (v: string | number): string =>
  typeof v === 'number' ? String(v) : v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const valueText = (v: number): string =>
  Number.isNaN(v) ? 'Nan' : v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v);

/**
 * What counters and gauges share. prom-client fixes a metric's label names when it is created; ours
 * are known at the first inc()/set(), so the prom-client metric is created (or, for a counter,
 * re-created) then. A counter starts unlabelled so that it shows 0 before its first increment, as
 * Prometheus counters should; a gauge appears with its first value.
 *
 * The values are mirrored here because prom-client reads them only asynchronously (its get() is
 * async), and get() and render() below are synchronous for the code that reads its own metrics.
 */
abstract class Metric<M extends client.Counter | client.Gauge> {
  protected readonly values = new Map<string, { labels: Labels; value: number }>();
  protected prom: M | null = null;
  private labelKeys: string | null = null;

  constructor(
    protected readonly registry: client.Registry,
    readonly name: string,
    readonly help: string,
  ) {}

  protected abstract create(labelNames: string[]): M;
  abstract readonly type: 'counter' | 'gauge';

  /** The prom-client metric for this label set's names; throws if a call uses other names. */
  protected promFor(labels: Labels): M {
    const names = Object.keys(labels).sort();
    const k = names.join(',');
    if (this.prom && this.labelKeys === k) return this.prom;
    if (this.prom && (this.labelKeys !== '' || this.values.size > 0))
      throw new Error(
        `metric ${this.name}: labels {${names.join(',')}} differ from {${this.labelKeys ?? ''}} used before`,
      );
    // Still unlabelled and untouched: replace it by one with these label names (nothing is lost).
    if (this.prom) this.registry.removeSingleMetric(this.name);
    this.prom = this.create(names);
    this.labelKeys = k;
    return this.prom;
  }

  get(labels: Labels = {}): number {
    return this.values.get(keyOf(labels))?.value ?? 0;
  }

  /** This metric in the text format, from the mirrored values (prom-client's layout). */
  render(): string | null {
    if (!this.prom) return null; // a gauge never set is not registered yet
    const lines = [`# HELP ${this.name} ${this.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`];
    lines.push(`# TYPE ${this.name} ${this.type}`);
    if (this.values.size === 0 && this.type === 'counter' && this.labelKeys === '')
      lines.push(`${this.name} 0`);
    for (const { labels, value } of this.values.values()) {
      const ls = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
      lines.push(`${this.name}${ls.length ? `{${ls.join(',')}}` : ''} ${valueText(value)}`);
    }
    return lines.join('\n');
  }
}

export class Counter extends Metric<client.Counter> {
  readonly type = 'counter';

  constructor(registry: client.Registry, name: string, help: string) {
    super(registry, name, help);
    this.promFor({});
  }

  protected create(labelNames: string[]): client.Counter {
    return new client.Counter({ name: this.name, help: this.help, labelNames, registers: [this.registry] });
  }

  inc(labels: Labels = {}, by = 1): void {
    this.promFor(labels).inc(labels as client.LabelValues<string>, by);
    const k = keyOf(labels);
    const v = this.values.get(k);
    if (v) v.value += by;
    else this.values.set(k, { labels, value: by });
  }
}

export class Gauge extends Metric<client.Gauge> {
  readonly type = 'gauge';

  protected create(labelNames: string[]): client.Gauge {
    return new client.Gauge({ name: this.name, help: this.help, labelNames, registers: [this.registry] });
  }

  set(value: number, labels: Labels = {}): void {
    this.promFor(labels).set(labels as client.LabelValues<string>, value);
    this.values.set(keyOf(labels), { labels, value });
  }

  /** Forgets one label set (a partition this member no longer owns, say). */
  remove(labels: Labels): void {
    if (!this.values.delete(keyOf(labels))) return;
    this.prom?.remove(labels as client.LabelValues<string>);
  }
}

/** A prom-client histogram; its label names are fixed when it is defined. Values in seconds. */
export class Histogram {
  constructor(private readonly prom: client.Histogram) {}

  observe(valueS: number, labels: Labels = {}): void {
    this.prom.observe(labels as client.LabelValues<string>, valueS);
  }
}

export interface RegistryOptions {
  /**
   * prom-client's default metrics (process CPU, memory, file descriptors, GC, event-loop lag and
   * utilisation, active handles). On by default; every service's /metrics should carry them.
   */
  defaultMetrics?: boolean;
}

export class Registry {
  /** The prom-client registry behind this one; one per service (not the global one). */
  readonly prom = new client.Registry();
  private readonly own = new Map<string, Counter | Gauge | Histogram>();

  constructor(options: RegistryOptions = {}) {
    if (options.defaultMetrics ?? true) client.collectDefaultMetrics({ register: this.prom });
  }

  /**
   * Registers a counter, or returns the one already registered under that name (two components
   * of one process that count the same thing share it; prom-client refuses a second registration).
   */
  counter(name: string, help: string): Counter {
    return this.existing(name, Counter) ?? this.keep(name, new Counter(this.prom, name, help));
  }

  gauge(name: string, help: string): Gauge {
    return this.existing(name, Gauge) ?? this.keep(name, new Gauge(this.prom, name, help));
  }

  /** A histogram with the given upper bucket bounds (seconds) and label names. */
  histogram(
    name: string,
    help: string,
    bucketsS: readonly number[],
    labelNames: readonly string[] = [],
  ): Histogram {
    const found = this.existing(name, Histogram);
    if (found) return found;
    const prom = new client.Histogram({
      name,
      help,
      buckets: [...bucketsS],
      labelNames: [...labelNames],
      registers: [this.prom],
    });
    return this.keep(name, new Histogram(prom));
  }

  /** The text exposition of everything registered, as prom-client renders it: what /metrics serves. */
  exposition(): Promise<string> {
    return this.prom.metrics();
  }

  get contentType(): string {
    return this.prom.contentType;
  }

  /**
   * The counters and gauges in the text format, synchronously, for code and tests that read their
   * own process's values. Histograms and the default metrics are in exposition() only.
   */
  render(): string {
    const parts: string[] = [];
    for (const m of this.own.values()) {
      const text = m instanceof Histogram ? null : m.render();
      if (text !== null) parts.push(text);
    }
    return parts.join('\n\n') + '\n';
  }

  private existing<T extends Counter | Gauge | Histogram>(
    name: string,
    kind: abstract new (...args: never[]) => T,
  ): T | null {
    const m = this.own.get(name);
    if (!m) return null;
    if (!(m instanceof kind)) throw new Error(`metric ${name} is already registered as another type`);
    return m;
  }

  private keep<T extends Counter | Gauge | Histogram>(name: string, m: T): T {
    this.own.set(name, m);
    return m;
  }
}

// Histogram bucket bounds, in seconds. In-process steps (a batch, an insert round, one OTLP
// export) take milliseconds to seconds; a request's row waits for its window to close and the next
// flush, which takes seconds to minutes (longer after an outage: the top bucket is 10 min).
export const STEP_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
export const ROW_LATENCY_BUCKETS_S = [0.25, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600];

/** The joiner's latency histograms (names used by the Grafana dashboard and docs/operations.md). */
export function joinerLatency(r: Registry) {
  return {
    batchS: r.histogram(
      'joulestream_joiner_batch_seconds',
      'Time to process one fetched batch: decode, validate, attribute, and the flush it triggers',
      STEP_BUCKETS_S,
    ),
    insertS: r.histogram(
      'joulestream_joiner_insert_seconds',
      'Duration of one round of ClickHouse inserts (all batches of one flush), whatever its outcome',
      STEP_BUCKETS_S,
    ),
    rowLatencyS: r.histogram(
      'joulestream_joiner_request_to_row_seconds',
      "From a request's end (event time) to ClickHouse acknowledging the insert of its row",
      ROW_LATENCY_BUCKETS_S,
    ),
  };
}

/** The OTLP receiver's handling time, from the request's arrival to its answer, by HTTP status. */
export function otlpLatency(r: Registry) {
  return {
    handleS: r.histogram(
      'joulestream_otlp_request_seconds',
      'OTLP export handling time, from arrival to the answer (Kafka acknowledgement included), by HTTP status',
      STEP_BUCKETS_S,
      ['status'],
    ),
  };
}
