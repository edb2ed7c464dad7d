import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseStack, loadTestcontainers } from './support/stack.ts';

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

test('testcontainers loads on this Node (a real import, not a stub)', async () => {
  const tc = await loadTestcontainers();
  assert.equal(typeof tc.GenericContainer, 'function');
  assert.equal(typeof tc.getContainerRuntimeClient, 'function');
});

test('a testcontainers that fails to load is an error naming the cause, not a fallback', async () => {
  const broken = () => Promise.reject(new TypeError("Cannot read properties of undefined (reading 'bind')"));
  await assert.rejects(loadTestcontainers(broken), (err: Error) => {
    assert.match(err.message, /testcontainers could not be loaded on Node v\d+/);
    assert.match(err.message, /reading 'bind'/);
    assert.ok(err.cause instanceof TypeError);
    return true;
  });
});
