import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ClickHouseError } from '@clickhouse/client';
import kafkajs from 'kafkajs';
import { JoulestreamError } from '../config/errors.ts';
import { fromClickHouse, fromKafka } from './client-errors.ts';

const { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSProtocolError } = kafkajs;

test('ClickHouse errors: the client class gives the code; data errors are not retriable, the rest are', () => {
  const data = fromClickHouse(
    new ClickHouseError({ message: 'Cannot parse', code: '27', type: 'CANNOT_PARSE_INPUT_ASSERTION_FAILED' }),
    'insert',
  );
  assert.ok(data instanceof JoulestreamError);
  assert.equal(data.code, 27);
  assert.equal(data.retriable, false);
  const parts = fromClickHouse(
    new ClickHouseError({ message: 'Too many parts', code: '252', type: 'TOO_MANY_PARTS' }),
    'insert',
  );
  assert.equal(parts.retriable, true);
  assert.ok(parts.cause instanceof ClickHouseError);
  // An 18.16 server's text, which the client's parser leaves a plain Error.
  const old = fromClickHouse(
    new Error('Code: 117, e.displayText() = DB::Exception: Unknown field found'),
    'insert',
  );
  assert.equal(old.code, 117);
  assert.equal(old.retriable, false);
  const down = fromClickHouse(new Error('connect ECONNREFUSED 127.0.0.1:21123'), 'insert');
  assert.equal(down.code, null);
  assert.equal(down.retriable, true);
});

test('Kafka errors: retriable as kafkajs says, plus a fresh topic answering UNKNOWN_TOPIC_OR_PARTITION', () => {
  assert.equal(
    fromKafka(new KafkaJSConnectionError('Connection error: ECONNREFUSED'), 'send').retriable,
    true,
  );
  assert.equal(fromKafka(new KafkaJSNonRetriableError('bad'), 'send').retriable, false);
  const unknown = new KafkaJSProtocolError('This server does not host this topic-partition');
  Object.assign(unknown, { type: 'UNKNOWN_TOPIC_OR_PARTITION', retriable: false });
  assert.equal(fromKafka(unknown, 'topic creation').retriable, true);
  assert.equal(fromKafka(new Error('not from kafkajs'), 'send').retriable, false);
  assert.match(fromKafka(new Error('x'), 'send to t').message, /Kafka send to t failed: x/);
});
