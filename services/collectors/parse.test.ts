import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCsvHeader, parseCsvRow, parseFieldMap, parsePowerLine, parseRequestLine } from './parse.ts';

test('JSONL request lines map to request logs', () => {
  const p = parseRequestLine(
    '{"request_id":"a","host":"h","gpus":[0],"model":"m","start_ms":1000,"end_ms":2000,"first_token_ms":1100,"prompt_tokens":5,"completion_tokens":7}',
  );
  assert.ok(p.ok);
  assert.equal(p.value.tFirstTokenMs, 1100);
  assert.equal(p.value.tenant, 'unknown');
});

test('bad JSONL lines get reasons', () => {
  const a = parseRequestLine('{nope');
  assert.ok(!a.ok && a.reason === 'malformed-json');
  const b = parseRequestLine('{"request_id":"a","host":"h","start_ms":"yesterday","end_ms":1}');
  assert.ok(!b.ok && b.reason === 'invalid-field');
});

test('nvidia-smi CSV with units in the header and values', () => {
  const h = parseCsvHeader('timestamp, index, power.draw [W], total_energy_consumption [mJ], host');
  assert.ok(h.ok);
  const r = parseCsvRow('2023/11/16 18:17:03.979, 3, 312.45 W, 123456789 mJ, gpu-7', h.value, null);
  assert.ok(r.ok);
  assert.equal(r.value.length, 2);
  const [counter, reading] = r.value;
  assert.equal(counter!.kind, 'counter');
  assert.equal(counter!.energyJ, 123456.789);
  assert.equal(reading!.powerW, 312.45);
  assert.equal(reading!.tMs, Date.parse('2023-11-16T18:17:03.979Z'));
  assert.equal(reading!.host, 'gpu-7');
});

test('CSV "[N/A]" power is skipped, NaN passes through for the joiner to dead-letter', () => {
  const h = parseCsvHeader('timestamp,index,power.draw');
  assert.ok(h.ok);
  assert.ok(!parseCsvRow('1700000000000,0,[N/A]', h.value, 'h').ok);
  const nan = parseCsvRow('1700000000000,0,nan', h.value, 'h');
  assert.ok(nan.ok && Number.isNaN(nan.value[0]!.powerW));
});

test('JSONL power lines: RAPL counters in microjoules, BMC readings in watts', () => {
  const rapl = parsePowerLine(
    '{"t_ms":1000,"host":"h","role":"cpu","device":"package-0","energy_uj":262143328000,"max_energy_range_uj":262143328850}',
  );
  assert.ok(rapl.ok);
  assert.equal(rapl.value.kind, 'counter');
  assert.ok(Math.abs(rapl.value.energyJ! - 262143.328) < 1e-6);
  assert.ok(Math.abs(rapl.value.rangeJ! - 262143.32885) < 1e-6);
  assert.equal(rapl.value.source, 'rapl');
  const bmc = parsePowerLine(
    '{"t_ms":"2026-01-01T00:00:05Z","host":"h","role":"node","device":"bmc","power_w":2400,"averaging_ms":5000}',
  );
  assert.ok(bmc.ok);
  assert.equal(bmc.value.kind, 'reading');
  assert.equal(bmc.value.powerW, 2400);
  assert.equal(bmc.value.averagingMs, 5000);
  assert.equal(bmc.value.tMs, Date.parse('2026-01-01T00:00:05Z'));
  assert.equal(bmc.value.source, 'bmc');
});

test('bad JSONL power lines get reasons', () => {
  const reason = (line: string): string => {
    const p = parsePowerLine(line);
    assert.ok(!p.ok, line);
    return p.reason;
  };
  assert.equal(reason('{"t_ms":1'), 'malformed-json');
  assert.equal(reason('[1,2]'), 'malformed-json');
  assert.equal(reason('{"t_ms":1,"host":"h","role":"gpu","power_w":1}'), 'invalid-field');
  assert.equal(reason('{"t_ms":1,"host":"h","role":"cpu","power_w":"NaN"}'), 'invalid-field');
  assert.equal(reason('{"t_ms":1,"host":"h","role":"cpu"}'), 'invalid-field');
  assert.equal(reason('{"host":"h","role":"cpu","power_w":1}'), 'invalid-field');
  assert.equal(
    reason('{"t_ms":1,"host":"h","role":"cpu","power_w":' + '1'.repeat(70_000) + '}'),
    'oversized',
  );
});

test('field maps rename the keys a gateway uses; unknown names are refused', () => {
  const f = parseFieldMap({ requestId: 'rid', tStartMs: 'ts' }, 'map.yaml');
  assert.ok(f.ok);
  const p = parseRequestLine('{"rid":"x","host":"h","ts":1000,"end_ms":2000}', f.value);
  assert.ok(p.ok && p.value.requestId === 'x' && p.value.tStartMs === 1000);
  const bad = parseFieldMap({ requestID: 'rid' }, 'map.yaml');
  assert.ok(!bad.ok && /unknown field requestID/.test(bad.message));
});

test('JSONL request lines may carry the agent run: trace_id, conversation_id, agent_name', () => {
  const base = { request_id: 'q', host: 'h', start_ms: 1, end_ms: 2 };
  const p = parseRequestLine(
    JSON.stringify({ ...base, trace_id: 'T1', conversation_id: 'C1', agent_name: 'planner' }),
  );
  assert.ok(p.ok);
  assert.equal(p.value.traceId, 'T1');
  assert.equal(p.value.conversationId, 'C1');
  assert.equal(p.value.agentName, 'planner');
  const q = parseRequestLine(JSON.stringify({ ...base, trace_id: '' }));
  assert.ok(q.ok);
  assert.equal('traceId' in q.value, false);
});
