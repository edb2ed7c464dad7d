// The Prometheus text exposition format (version 0.0.4), parsed completely: HELP and TYPE lines,
// comments, label value escapes (\\, \", \n), NaN and ±Inf, optional millisecond timestamps.
// Pure: text in, samples and per-line errors out.

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
  /** The exporter's own timestamp (ms), when it gave one. */
  timestampMs: number | null;
}

export interface PromParse {
  samples: PromSample[];
  types: Map<string, string>;
  /** `reason`: the dead-letter reason when it is not 'invalid-field' (a timestamp past a long). */
  errors: { line: number; message: string; reason?: string }[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/;

function parseValue(s: string): number | null {
  // Prometheus reads values with Go's ParseFloat, which takes NaN and Inf in any case: prom-client
  // writes "Nan" (an event-loop lag not yet measured), and Prometheus scrapes it.
  switch (s.toLowerCase()) {
    case 'nan':
      return NaN;
    case '+inf':
    case 'inf':
    case '+infinity':
    case 'infinity':
      return Infinity;
    case '-inf':
    case '-infinity':
      return -Infinity;
  }
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) return null;
  return Number(s);
}

/** Parses `{a="x",b="y\"z"}` starting at s[0] === '{'; returns labels and the rest of the line. */
function parseLabels(s: string): { labels: Record<string, string>; rest: string } | string {
  const labels: Record<string, string> = {};
  let i = 1;
  for (;;) {
    while (s[i] === ' ') i++;
    if (s[i] === '}') return { labels, rest: s.slice(i + 1) };
    const m = LABEL.exec(s.slice(i));
    if (!m) return `bad label name at column ${i + 1}`;
    const key = m[0];
    i += key.length;
    while (s[i] === ' ') i++;
    if (s[i] !== '=') return `expected = after label ${key}`;
    i++;
    while (s[i] === ' ') i++;
    if (s[i] !== '"') return `label ${key} value is not quoted`;
    i++;
    let v = '';
    for (;;) {
      const c = s[i];
      if (c === undefined) return `label ${key} value is not terminated`;
      if (c === '"') break;
      if (c === '\\') {
        const n = s[i + 1];
        if (n === 'n') v += '\n';
        else if (n === '\\' || n === '"') v += n;
        else return `bad escape \\${n ?? ''} in label ${key}`;
        i += 2;
        continue;
      }
      v += c;
      i++;
    }
    i++;
    if (key in labels) return `label ${key} repeated`;
    labels[key] = v;
    while (s[i] === ' ') i++;
    if (s[i] === ',') i++;
    else if (s[i] !== '}') return `expected , or } after label ${key}`;
  }
}

export function parsePromText(text: string): PromParse {
  const out: PromParse = { samples: [], types: new Map(), errors: [] };
  const lines = text.split('\n');
  lines.forEach((raw, idx) => {
    const line = raw.replace(/\r$/, '').trim();
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^#\s*TYPE\s+(\S+)\s+(\S+)/.exec(line);
      if (m) out.types.set(m[1]!, m[2]!);
      return; // HELP and plain comments carry nothing we need
    }
    const nm = NAME.exec(line);
    if (!nm) {
      out.errors.push({ line: idx + 1, message: 'line does not start with a metric name' });
      return;
    }
    let rest = line.slice(nm[0].length);
    let labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      const l = parseLabels(rest);
      if (typeof l === 'string') {
        out.errors.push({ line: idx + 1, message: l });
        return;
      }
      labels = l.labels;
      rest = l.rest;
    }
    const parts = rest.trim().split(/\s+/);
    const value = parts[0] === undefined ? null : parseValue(parts[0]);
    if (value === null || parts.length > 2) {
      out.errors.push({ line: idx + 1, message: `bad sample value "${rest.trim().slice(0, 40)}"` });
      return;
    }
    let timestampMs: number | null = null;
    if (parts[1] !== undefined) {
      // Within a Date's range: the sample's time goes out as an Avro long (see parse.ts MAX_LONG).
      if (!/^-?\d+$/.test(parts[1])) {
        out.errors.push({ line: idx + 1, message: `bad timestamp "${parts[1]}"` });
        return;
      }
      if (Math.abs(Number(parts[1])) > 8.64e15) {
        out.errors.push({
          line: idx + 1,
          message: `timestamp ${parts[1]} is beyond what a long of milliseconds carries`,
          reason: 'out-of-range',
        });
        return;
      }
      timestampMs = Number(parts[1]);
    }
    out.samples.push({ name: nm[0], labels, value, timestampMs });
  });
  return out;
}
