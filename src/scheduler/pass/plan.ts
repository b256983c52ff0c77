/**
 * The planning step of a pass: which worker(s) each queued task goes to, or why no worker ever will.
 * Pure: no Nest, no Redis, no clock (the time is the plan's `nowMs`). The pass and the submit-time
 * reservation call it; src/scheduler/pass/plan.spec.ts tests it with in-memory fleets.
 */
import type { Requirements, StoredPlacement } from '../../contracts/stored-task';
import type { UpstreamRefs } from '../../contracts/upstream-refs';
import type { CandidateGroup, CandidatePool } from '../placement/candidate-pool';
import { chooseStrategyFor, unschedulableReason } from '../placement/place';
import type { SchedulerWeights, Strategy, WorkerView } from '../placement/types';
import type { ClaimRequest, FanOutRequest, QueuedTask } from '../scheduler.repository';
import { shardCount } from '../sharding/shards';

/**
 * The workers behind the candidate pool, as placement needs them. WorkerIndex is one; a spec
 * builds one from a plain list of workers.
 */
export interface Fleet {
  /** Whether worker `id` is still schedulable as of `nowMs` (its staleness checked now). */
  confirm(id: string, nowMs: number): boolean;
  /** Worker `id` is taken: out of the pool (every group) from now on. */
  markBusy(id: string): void;
  /** Every registered worker, busy and stale ones too, for saying why a task fits none. */
  snapshot(nowMs: number): WorkerView[];
}

/** A task planned: the claim to send, and for whom. */
export interface Planned {
  req: ClaimRequest | FanOutRequest;
  name: string;
  workers: string[];
  /** The task's requirements (a fan-out's shards inherit them). */
  requirements: Requirements;
  /** The upstream tasks its spec references (resolved before the claim, Claims.resolveUpstream). */
  upstream?: UpstreamRefs;
}

/** What one pass has decided so far. */
export interface PassPlan {
  readonly nowMs: number;
  /** The schedulable workers, grouped; planning takes workers out of it (Fleet.markBusy). */
  readonly pool: CandidatePool;
  readonly fleet: Fleet;
  /** CPU_ONLY_WEIGHT, GPU_WEIGHT, HIGH_AVAIL_RATIO, LOW_AVAIL_RATIO, MAX_AUTO_SHARDS (AppConfig.scheduler). */
  readonly policy: SchedulerWeights;
  /** Queued tasks not placed yet in this pass (the strategy's demand). */
  demand: number;
  readonly planned: Planned[];
  /** Tasks whose `unschedulable` reason changed (written back by the pass). */
  readonly unschedulable: { id: string; reason: string }[];
  /** Per requirement set, why no worker fits (one scan of the fleet each). */
  readonly reasons: Map<string, string>;
  /** Fleet.snapshot, taken at most once per plan (only when some task fits no idle worker). */
  registered: WorkerView[] | null;
}

/** What planning reads of a queued task (its placement record comes separately, parsed). */
export type PlanTask = Pick<QueuedTask, 'id' | 'exclude' | 'unschedulable' | 'name'>;

/** An empty plan over the idle workers of `pool`, for `demand` queued tasks. */
export function newPlan(fleet: Fleet, pool: CandidatePool, policy: SchedulerWeights, nowMs: number, demand: number): PassPlan {
  return { nowMs, pool, fleet, policy, demand, planned: [], unschedulable: [], reasons: new Map(), registered: null };
}

/**
 * Chooses the worker(s) of one queued task and adds the claim to `plan.planned` (the workers are
 * marked busy at once, so the next task cannot take them), or records in `plan.unschedulable` why
 * no registered worker could ever run it when its stored reason differs. True when planned.
 *
 * Strategy from idle capacity versus the demand left (chooseStrategyFor): a parallel task fans out
 * over the tightest fits when there is plenty (data-parallel); otherwise one worker, the tightest fit
 * (best-fit) or, when capacity is short, the earliest registered (first-fit). A retried task avoids
 * the worker it failed on (`exclude`) when another one fits.
 */
export function planTask(plan: PassPlan, task: PlanTask, placement: StoredPlacement): boolean {
  const { pool, nowMs, policy } = plan;
  const req = placement.requirements;
  const group = pool.size > 0 ? pool.group(req, nowMs) : null;
  // Retry on another worker where one fits; the one that failed is better than waiting forever.
  const exclude = task.exclude && group && group.count(task.exclude) > 0 ? task.exclude : undefined;
  if (!group || group.count(exclude) === 0) {
    plan.registered ??= plan.fleet.snapshot(nowMs);
    const key = JSON.stringify(req);
    const why = plan.reasons.get(key) ?? unschedulableReason(req, plan.registered) ?? '';
    plan.reasons.set(key, why);
    if (why !== (task.unschedulable ?? '')) plan.unschedulable.push({ id: task.id, reason: why });
    return false;
  }
  // A task that reads upstream results is not fanned out: its document is resolved for one worker.
  const choice = chooseStrategyFor({
    parallel: placement.parallel && !placement.upstream,
    available: group.available(exclude),
    count: group.count(exclude),
    demand: plan.demand,
    weights: policy,
  });
  plan.demand = Math.max(1, plan.demand - 1);
  const shards = choice.strategy === 'data-parallel' ? shardCount(req.replicas, group.count(exclude), placement.maxShards, policy.maxAutoShards) : 1;
  // The index sweeps stale workers out once a second; the ones picked are checked now. One that
  // fails is purged from every group, so each retry below makes progress.
  let chosen: WorkerView[] = [];
  let strategy: Strategy = choice.strategy;
  if (shards >= 2) {
    do chosen = group.bestN(shards, exclude);
    while (!allUsable(plan, chosen));
  }
  const name = task.name ?? task.id;
  if (chosen.length >= 2) {
    const workers = chosen.map((w) => w.id);
    plan.planned.push({ req: { kind: 'shards', taskId: task.id, strategy, reason: `${choice.reason}; ${chosen.length} shards`, shards: [] }, name, workers, requirements: req });
    // Busy from now on (out of every group), before the claim is sent: a newer IDLE event arriving
    // meanwhile must win over this.
    for (const id of workers) plan.fleet.markBusy(id);
    return true;
  }
  // A parallel task with fewer than two shards runs as one, placed best-fit.
  if (strategy === 'data-parallel') strategy = 'best-fit';
  let w = pick(group, strategy, exclude);
  while (w && !usable(plan, w)) w = pick(group, strategy, exclude);
  if (!w) return false; // every candidate had gone stale: the next pass says why
  plan.planned.push({
    req: { kind: 'single', taskId: task.id, workerId: w.id, strategy, reason: choice.reason },
    name,
    workers: [w.id],
    requirements: req,
    upstream: placement.upstream,
  });
  plan.fleet.markBusy(w.id);
  return true;
}

function pick(group: CandidateGroup, strategy: Strategy, exclude: string | undefined): WorkerView | undefined {
  return strategy === 'first-fit' ? group.first(exclude) : group.best(exclude);
}

/** Whether `w` is still schedulable; when not, it is purged from the pool so that it is never offered again. */
function usable(plan: PassPlan, w: WorkerView): boolean {
  if (plan.fleet.confirm(w.id, plan.nowMs)) return true;
  plan.pool.purge(w.id);
  return false;
}

function allUsable(plan: PassPlan, ws: WorkerView[]): boolean {
  for (const w of ws) if (!usable(plan, w)) return false;
  return true;
}
