import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseStack } from './support/stack.ts';

test('endpoints in the environment always win', () => {
  assert.equal(chooseStack({ KAFKA_BROKERS: 'k:1', CLICKHOUSE_URL: 'http://c:2' }, true), 'env');
  assert.equal(chooseStack({ KAFKA_BROKERS: 'k:1', CLICKHOUSE_URL: 'http://c:2' }, false), 'env');
});

test('without endpoints: testcontainers when Docker answers, else the native stack', () => {
  assert.equal(chooseStack({}, true), 'docker');
  assert.equal(chooseStack({}, false), 'native');
  // One endpoint alone is not enough to skip starting a stack.
  assert.equal(chooseStack({ KAFKA_BROKERS: 'k:1' }, false), 'native');
});
