// What makes a GenAI span unusable as a request log, each with its own dead-letter reason. Nothing
// is clamped: a span whose end is before its start used to become a 0 ms request and be billed
// hundreds of joules; it is now rejected as `end-before-start` so the exporter's bug shows. Pure.

export interface SpanTimesIn {
  /** Arrival (span start), epoch ms. */
  startMs: number;
  /** Span end, epoch ms. */
  endMs: number;
  /** gen_ai.latency.time_in_queue, seconds (0 when absent). */
  queueS: number;
  /** gen_ai.latency.time_to_first_token from arrival, seconds; null when absent. */
  ttftS: number | null;
}

export interface SpanTimes {
  /** GPU start: arrival plus queue time. */
  tStartMs: number;
  tEndMs: number;
  tFirstTokenMs: number | null;
}

export type SpanReason =
  'end-before-start' | 'queue-exceeds-span' | 'ttft-outside-span' | 'invalid-field' | 'out-of-range';

export interface SpanRejection {
  reason: SpanReason;
  message: string;
}

/** Request times from a span, or why the span's times contradict each other. */
export function spanTimes(t: SpanTimesIn, label: string): SpanTimes | SpanRejection {
  const { startMs, endMs, queueS, ttftS } = t;
  // Times go out as Avro longs: past 2^53 ms they cannot be carried exactly (found by the fuzzers).
  if (!Number.isSafeInteger(startMs) || !Number.isSafeInteger(endMs))
    return {
      reason: 'out-of-range',
      message: `span ${label}: start or end time beyond what a long of milliseconds carries`,
    };
  if (endMs < startMs)
    return {
      reason: 'end-before-start',
      message: `span ${label}: ends ${startMs - endMs} ms before it starts`,
    };
  if (queueS < 0)
    return { reason: 'invalid-field', message: `span ${label}: time_in_queue ${queueS} s is negative` };
  const queueMs = Math.round(queueS * 1000);
  if (startMs + queueMs > endMs)
    return {
      reason: 'queue-exceeds-span',
      message: `span ${label}: ${queueMs} ms in the queue, longer than the ${endMs - startMs} ms span`,
    };
  const tStartMs = startMs + queueMs;
  let tFirstTokenMs: number | null = null;
  if (ttftS !== null) {
    tFirstTokenMs = startMs + Math.round(ttftS * 1000);
    // The first token comes after the request leaves the queue and before its last token.
    if (tFirstTokenMs < tStartMs || tFirstTokenMs > endMs)
      return {
        reason: 'ttft-outside-span',
        message: `span ${label}: time_to_first_token ${ttftS} s lies outside [queue end ${queueMs} ms, span end ${endMs - startMs} ms]`,
      };
  }
  return { tStartMs, tEndMs: endMs, tFirstTokenMs };
}

/** A token count from a span attribute: a non-negative integer the wire's int64 can carry. */
export function spanTokens(name: string, v: number | null, label: string): SpanRejection | null {
  if (v === null || (Number.isSafeInteger(v) && v >= 0)) return null;
  return {
    reason: 'out-of-range',
    message: `span ${label}: ${name}=${v} is not a non-negative integer below 2^53`,
  };
}

/** Where a span sits in its export, for the dead letter's source position. */
export const spanPosition = (r: number, s: number, i: number): string =>
  `resourceSpans[${r}].scopeSpans[${s}].spans[${i}]`;
