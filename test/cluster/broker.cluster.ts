// One broker of three stopped mid-run, on the native cluster (npm run test:cluster runs this file
// beside cluster.cluster.ts; npm test does not): rows compared against a clean run, and one input's
// reports from one server and from the cluster. Kept out of npm test because a joiner has been seen
// to stall after the leader change in 3 of 21 runs (docs/operations.md); the scenario restarts a
// joiner that makes no progress for 45 s, as a liveness probe would, and counts the restarts.

import { test } from 'node:test';
import { brokerScenario } from '../../services/chaos/cluster-faults.ts';
import { clusterControl } from '../../services/chaos/cluster-stack.ts';
import { assertClean, assertSameReport, useCluster } from './common.ts';

const { isolated, results } = useCluster();

test('one broker stopped mid-run: no row lost, duplicated or changed; one input, same reports on one server and the cluster', async () => {
  const r = await brokerScenario(isolated(), clusterControl.broker(2));
  results.push(r);
  assertClean(r);
  await assertSameReport(r);
});
