// The joiner's metrics, defined once (names and help texts are part of the dashboard's contract).
import { joinerLatency, type Registry } from '../adapters/metrics.ts';

export function joinerMetrics(r: Registry) {
  const m = {
    consumed: r.counter('joulestream_joiner_records_total', 'Records consumed, by topic'),
    dead: r.counter(
      'joulestream_joiner_dead_letters_total',
      'Records sent to the dead-letter topic, by reason',
    ),
    late: r.counter(
      'joulestream_joiner_late_total',
      'Records beyond the correction horizon, sent to the late topic',
    ),
    duplicates: r.counter('joulestream_joiner_duplicates_total', 'Replayed records ignored'),
    reread: r.counter(
      'joulestream_joiner_reread_total',
      'Records fetched again after the group was rejoined, skipped because this process already processed them',
    ),
    corrections: r.counter(
      'joulestream_joiner_corrected_windows_total',
      'Closed windows re-attributed after late records',
    ),
    requestRows: r.counter('joulestream_joiner_request_rows_total', 'Request rows written to ClickHouse'),
    ledgerRows: r.counter('joulestream_joiner_ledger_rows_total', 'Ledger rows written to ClickHouse'),
    conservation: r.gauge(
      'joulestream_joiner_conservation_error',
      'Largest relative conservation error seen (attributed+unattributed vs measured)',
    ),
    stateBytes: r.gauge('joulestream_joiner_state_bytes', 'Approximate bytes of per-host state held'),
    hosts: r.gauge('joulestream_joiner_hosts', 'Hosts with state in this instance'),
    assigned: r.gauge(
      'joulestream_joiner_assigned_partitions',
      'Partitions of each input topic this member owns',
    ),
    rss: r.gauge('joulestream_process_rss_bytes', 'Resident set size of this process'),
    heap: r.gauge('joulestream_process_heap_used_bytes', 'V8 heap in use by this process'),
    windows: r.gauge(
      'joulestream_joiner_windows',
      'Windows with requests: open (not yet attributed) and held (open or still correctable)',
    ),
    lag: r.gauge(
      'joulestream_joiner_consumer_lag',
      'Records behind the partition high watermark, by topic and partition',
    ),
    insertMs: r.gauge(
      'joulestream_joiner_last_insert_ms',
      'Duration of the last round of ClickHouse inserts (all batches of one flush)',
    ),
    insertErrors: r.counter(
      'joulestream_joiner_insert_errors_total',
      'ClickHouse insert rounds that failed for a retriable reason',
    ),
    backlogRows: r.gauge(
      'joulestream_joiner_backlog_rows',
      'Rows waiting for ClickHouse; consumption is paused while this is above 0',
    ),
    lastBatch: r.gauge(
      'joulestream_joiner_last_batch_time_ms',
      'Wall time (epoch ms) of the last batch consumed; with lag 0, the time it was last caught up',
    ),
    kappa: r.gauge(
      'joulestream_joiner_kappa',
      'Latest online kappa fit in use, by model (decision record 0016)',
    ),
    kappaFits: r.counter('joulestream_joiner_kappa_fits_total', 'Online kappa fits persisted and put in use'),
    paused: r.gauge('joulestream_joiner_paused', '1 while consumption is paused for backpressure'),
    ...joinerLatency(r), // histograms: batchS, insertS, rowLatencyS
  };
  m.paused.set(0);
  m.backlogRows.set(0);
  return m;
}

export type JoinerMetrics = ReturnType<typeof joinerMetrics>;
