// Agent runs in the simulated workload: some user actions are an agent that makes several model
// calls in one trace. Calls are taken from the trace's arrival order, so they go to whichever
// instances the scheduler gave them: the calls of one run land on different hosts, as they do when a
// gateway balances an agent's calls across a fleet.

import { rng } from './fleet-sim.ts';
import type { SimRequest } from './fleet-sim.ts';

export interface AgentSpec {
  name: string;
  minCalls: number;
  maxCalls: number;
}

export const DEMO_AGENTS: readonly AgentSpec[] = [
  { name: 'trip-planner', minCalls: 3, maxCalls: 8 },
  { name: 'code-reviewer', minCalls: 2, maxCalls: 5 },
  { name: 'support-bot', minCalls: 2, maxCalls: 3 },
];

const hex = (r: ReturnType<typeof rng>, chars: number): string =>
  Array.from({ length: chars }, () => Math.floor(r.next() * 16).toString(16)).join('');

/**
 * Groups a share of the requests (in arrival order) into agent runs: each run gets a trace id, its
 * agent's name and a conversation id (an agent continues its last conversation half the time, so a
 * conversation holds several runs); a run's calls share the tenant of its first call. Returns the
 * number of runs. Requests outside runs are left as they are (single calls, no run fields).
 */
export function groupIntoRuns(
  requests: SimRequest[],
  seed: number,
  share = 0.3,
  agents: readonly AgentSpec[] = DEMO_AGENTS,
): number {
  const r = rng(seed);
  const order = [...requests].sort(
    (a, b) => a.tStartMs - b.tStartMs || a.requestId.localeCompare(b.requestId),
  );
  const lastConversation = new Map<string, string>();
  let runs = 0;
  let conversations = 0;
  for (let i = 0; i < order.length;) {
    // A run starts here with the probability that makes `share` of the calls belong to runs.
    if (r.next() >= share / 3) {
      i++;
      continue;
    }
    const agent = agents[Math.floor(r.next() * agents.length)]!;
    const calls = agent.minCalls + Math.floor(r.next() * (agent.maxCalls - agent.minCalls + 1));
    const prior = lastConversation.get(agent.name);
    const conversationId =
      prior && r.next() < 0.5 ? prior : `conv-${(conversations++).toString(36).padStart(4, '0')}`;
    lastConversation.set(agent.name, conversationId);
    const traceId = hex(r, 32);
    const tenant = order[i]!.tenant;
    for (const q of order.slice(i, i + calls)) {
      q.traceId = traceId;
      q.conversationId = conversationId;
      q.agentName = agent.name;
      q.tenant = tenant;
    }
    runs++;
    i += calls;
  }
  return runs;
}
