import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parsePromText, type PromSample } from '../collectors/prom-text.ts';
import { startHttp } from './http.ts';
import { joinerLatency, otlpLatency, Registry } from './metrics.ts';

const parse = (text: string) => {
  const p = parsePromText(text);
  assert.deepEqual(p.errors, [], 'the exposition parses without errors');
  return p;
};
const sample = (samples: PromSample[], name: string, labels: Record<string, string> = {}) =>
  samples.find((s) => s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels))?.value;

test('counters and gauges keep their names, labels and values in the prom-client exposition', async () => {
  const r = new Registry({ defaultMetrics: false });
  const spans = r.counter('joulestream_otlp_spans_total', 'Spans received, by outcome');
  const lag = r.gauge('joulestream_joiner_consumer_lag', 'Records behind, by topic and partition');
  const errors = r.counter('joulestream_joiner_insert_errors_total', 'Insert rounds that failed');
  spans.inc({ outcome: 'request' }, 5);
  spans.inc({ outcome: 'request' });
  spans.inc({ outcome: 'ignored' }, 2);
  lag.set(7, { topic: 'requests', partition: 3 });
  lag.set(9, { topic: 'power', partition: 0 });
  lag.remove({ topic: 'power', partition: 0 });
  const p = parse(await r.exposition());
  assert.equal(p.types.get('joulestream_otlp_spans_total'), 'counter');
  assert.equal(p.types.get('joulestream_joiner_consumer_lag'), 'gauge');
  assert.equal(sample(p.samples, 'joulestream_otlp_spans_total', { outcome: 'request' }), 6);
  assert.equal(sample(p.samples, 'joulestream_otlp_spans_total', { outcome: 'ignored' }), 2);
  assert.equal(
    sample(p.samples, 'joulestream_joiner_consumer_lag', { topic: 'requests', partition: '3' }),
    7,
  );
  assert.equal(
    sample(p.samples, 'joulestream_joiner_consumer_lag', { topic: 'power', partition: '0' }),
    undefined,
  );
  // A counter shows 0 before its first increment (rate() needs the series), as before.
  assert.equal(sample(p.samples, 'joulestream_joiner_insert_errors_total'), 0);
  assert.equal(spans.get({ outcome: 'request' }), 6);
  assert.equal(lag.get({ partition: 3, topic: 'requests' }), 7, 'label order does not matter');
  errors.inc();
  assert.equal(sample(parse(await r.exposition()).samples, 'joulestream_joiner_insert_errors_total'), 1);
});

test('render() is the same text prom-client serves, for any label values and amounts', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.string({ maxLength: 12 }), fc.nat({ max: 1000 })), { maxLength: 8 }),
      fc.array(fc.tuple(fc.string({ maxLength: 12 }), fc.double({ noNaN: true })), { maxLength: 8 }),
      async (incs, sets) => {
        const r = new Registry({ defaultMetrics: false });
        const c = r.counter('t_total', 'help with \\ and\nnewline');
        const g = r.gauge('t_gauge', 'gauge');
        const u = r.counter('t_unused_total', 'never incremented');
        for (const [v, by] of incs) c.inc({ reason: v }, by);
        for (const [v, x] of sets) g.set(x, { host: v, n: 1 });
        assert.ok(u);
        // Metric order differs (prom-client lists a metric from its first value) and does not matter.
        const blocks = (t: string) => t.trimEnd().split('\n\n').sort();
        assert.deepEqual(blocks(r.render()), blocks(await r.exposition()));
      },
    ),
    { numRuns: 100 },
  );
});

test('a metric used with two different label sets is a programming error, said at once', () => {
  const r = new Registry({ defaultMetrics: false });
  const c = r.counter('x_total', 'x');
  c.inc({ a: '1' });
  assert.throws(() => c.inc({ b: '1' }), /labels \{b\} differ from \{a\}/);
  const g = r.gauge('y', 'y');
  g.set(1);
  assert.throws(() => g.set(1, { a: '1' }), /differ/);
  assert.throws(() => r.gauge('x_total', 'x'), /another type/);
  assert.equal(r.counter('x_total', 'x'), c, 'registering a name again returns the same counter');
});

test('the histograms count every observation into cumulative buckets', async () => {
  const r = new Registry({ defaultMetrics: false });
  const j = joinerLatency(r);
  const o = otlpLatency(r);
  const values = [0.0004, 0.003, 0.02, 0.02, 0.7, 12, 45];
  for (const v of values) j.insertS.observe(v);
  for (const v of [3, 90, 900]) j.rowLatencyS.observe(v);
  o.handleS.observe(0.004, { status: 200 });
  o.handleS.observe(0.2, { status: 503 });
  const p = parse(await r.exposition());
  assert.equal(p.types.get('joulestream_joiner_insert_seconds'), 'histogram');
  assert.equal(sample(p.samples, 'joulestream_joiner_insert_seconds_count'), values.length);
  const sum = sample(p.samples, 'joulestream_joiner_insert_seconds_sum')!;
  assert.ok(Math.abs(sum - values.reduce((a, b) => a + b, 0)) < 1e-9);
  const buckets = p.samples.filter((s) => s.name === 'joulestream_joiner_insert_seconds_bucket');
  for (const b of buckets) {
    const le = b.labels.le === '+Inf' ? Infinity : Number(b.labels.le);
    assert.equal(b.value, values.filter((v) => v <= le).length, `bucket le=${b.labels.le}`);
  }
  assert.equal(sample(p.samples, 'joulestream_joiner_request_to_row_seconds_bucket', { le: '600' }), 2);
  assert.equal(sample(p.samples, 'joulestream_joiner_request_to_row_seconds_count'), 3);
  assert.equal(sample(p.samples, 'joulestream_joiner_batch_seconds_count'), 0);
  assert.equal(sample(p.samples, 'joulestream_otlp_request_seconds_count', { status: '503' }), 1);
});

test('/metrics serves prom-client with the default process and event-loop metrics', async () => {
  const r = new Registry();
  r.counter('joulestream_joiner_records_total', 'Records consumed, by topic').inc({ topic: 'requests' }, 3);
  const http = await startHttp(0, r, { live: () => true, ready: () => ({ ok: true }) });
  try {
    const res = await fetch(`http://127.0.0.1:${http.port}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const p = parse(await res.text());
    assert.equal(sample(p.samples, 'joulestream_joiner_records_total', { topic: 'requests' }), 3);
    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_seconds',
      'nodejs_eventloop_lag_p99_seconds',
      'nodejs_heap_size_used_bytes',
      'nodejs_gc_duration_seconds_count',
    ])
      assert.ok(p.types.has(name.replace(/_count$/, '')), `${name} is exposed`);
  } finally {
    await new Promise((done) => http.close(done));
  }
});
