/**
 * The scenarios of issue 5. Each starts its own stack (fresh Redis and orchestrator, so one
 * scenario's data never weighs on the next), measures inside a window, checks that nothing was
 * lost or dispatched twice, and returns its figures with the target each is measured against.
 * `--quick` scales every count down so that the whole run stays under a minute.
 */
import { summarizeProfile, ProfileSummary } from './lib/profile';
import { profileFiles } from './lib/orchestrator';
import { histogramDelta, histogramQuantileMs, samples, scrapeHistogram, scrapeMetrics } from './lib/metrics';
import { processMemoryMb } from './lib/proc';
import { redisMemoryMb, slowlogStart, slowlogTop } from './lib/redis';
import { Context, SimStats, Stack, StackOptions, WindowFigures } from './lib/stack';
import { round, roundSummary, sleep, summarize, Summary } from './lib/stats';

export interface Row {
  figure: string;
  value: string;
  target: string;
  met: boolean | null;
}

export interface ScenarioResult {
  id: string;
  title: string;
  params: Record<string, unknown>;
  figures: Record<string, unknown>;
  rows: Row[];
  checks: { name: string; ok: boolean; detail?: string }[];
  redis?: Record<string, WindowFigures>;
  orchestratorWarnings?: { count: number; sample: string[] };
  profile?: ProfileSummary[];
  error?: string;
  durationSec: number;
}

export interface Scenario {
  id: string;
  title: string;
  run(ctx: Context): Promise<ScenarioResult>;
}

interface WaitDone {
  created: number;
  done: number;
  endedOtherwise: Record<string, number>;
  missing: number;
  missingSample: string[];
  elapsedMs: number | null;
  timedOut: boolean;
}

interface SubmitResult {
  /** Set when the orchestrator refused a batch as too big: its cap (the batch was then split). */
  batchCap: number | null;
  cappedBatches: number;
  requests: number;
  requestMs: Summary;
  errors: number;
  firstErrors: string[];
  created: number;
  submitMs: number;
  achievedRate?: number;
  late?: number;
}

const fmt = (v: number | null | undefined, unit = '') => (v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : `${round(v)}${unit}`);

function row(figure: string, value: string, target = '', met: boolean | null = null): Row {
  return { figure, value, target, met };
}

/** Whether one request of `size` documents was accepted (issue 5: all at once, all or none). */
function batchRow(size: number, sub: SubmitResult): Row {
  const value = sub.batchCap === null ? 'accepted' : `refused (400: at most ${sub.batchCap} per submission); measured in requests of ${sub.batchCap}`;
  return row(`${size} documents in one request`, value, 'accepted', sub.batchCap === null);
}

/**
 * How long `tasks` may take to finish: generous (no slower than 20 tasks/s, at least two
 * minutes), so that only a task that will never finish fails the run, not a slow orchestrator.
 */
const doneTimeoutMs = (tasks: number) => Math.max(120_000, (tasks / 20) * 1000);

async function withStack(
  ctx: Context,
  id: string,
  title: string,
  params: Record<string, unknown>,
  body: (st: Stack, res: ScenarioResult) => Promise<void>,
  opts: StackOptions = {},
): Promise<ScenarioResult> {
  const started = Date.now();
  const res: ScenarioResult = { id, title, params, figures: {}, rows: [], checks: [], durationSec: 0 };
  let st: Stack | null = null;
  try {
    st = await Stack.start(ctx, id, opts);
    await body(st, res);
  } catch (err) {
    res.error = err instanceof Error ? (err.stack ?? err.message) : String(err);
  } finally {
    if (st) {
      const warnings = st.orch.warnings();
      if (warnings.length) res.orchestratorWarnings = { count: warnings.length, sample: warnings.slice(0, 5).map((l) => l.slice(0, 300)) };
      await st.stop().catch((err) => (res.error ??= `stopping the stack: ${String(err)}`));
      if (ctx.cpuProfile) res.profile = profileFiles(st.orch.profileDir).map((f) => summarizeProfile(f, 20));
    }
    res.durationSec = round((Date.now() - started) / 1000)!;
  }
  return res;
}

/**
 * The correctness checks every scenario makes: nothing lost, nothing twice, no HTTP errors. A task
 * not seen DONE by the deadline is looked up: still PENDING/DISPATCHED/RUNNING means the
 * orchestrator was too slow (the check still fails), anything else means it was lost.
 */
async function checkRun(
  st: Stack,
  res: ScenarioResult,
  what: string,
  done: WaitDone,
  sim: SimStats,
  submit?: { errors: number; firstErrors: string[] },
): Promise<{ lost: number }> {
  let detail = `${done.done}/${done.created} done`;
  let lost = 0;
  if (done.missing > 0) {
    const statuses = await st.load.call<Record<string, number>>('statusCounts', { ids: done.missingSample }, 120_000).catch((err) => ({ [`lookup failed: ${String(err)}`]: 1 }));
    detail += `; ${done.missing} not done by the deadline, status of ${done.missingSample.length} of them: ${JSON.stringify(statuses)}`;
    const active = new Set(['PENDING', 'DISPATCHED', 'RUNNING']);
    lost = Object.entries(statuses).reduce((n, [status, count]) => n + (active.has(status) ? 0 : count), 0);
  }
  if (Object.keys(done.endedOtherwise).length) detail += `; ended otherwise: ${JSON.stringify(done.endedOtherwise)}`;
  res.checks.push({ name: `${what}: every task DONE`, ok: done.missing === 0 && done.done === done.created && Object.keys(done.endedOtherwise).length === 0, detail });
  res.checks.push({ name: `${what}: no task dispatched twice`, ok: sim.duplicateDispatches === 0, detail: `${sim.duplicateDispatches} duplicate dispatch(es)` });
  res.checks.push({ name: `${what}: no dispatch to a busy worker`, ok: sim.busyDispatches === 0, detail: `${sim.busyDispatches}` });
  res.checks.push({
    name: `${what}: simulated workers without errors`,
    ok: sim.errors === 0 && sim.subscriberReconnects === 0,
    detail: `${sim.errors} error(s) ${sim.lastError}; subscriber reconnects ${sim.subscriberReconnects}`,
  });
  if (submit) res.checks.push({ name: `${what}: every submission accepted`, ok: submit.errors === 0, detail: `${submit.errors} error(s) ${submit.firstErrors.join(' | ')}` });
  return { lost };
}

async function prepare(st: Stack, observe: { dispatch?: boolean; done?: boolean }, simObserve: Record<string, boolean> = {}) {
  await st.sim.call('observe', simObserve);
  await st.sim.call('reset');
  await st.load.call('reset');
  await st.load.call('observe', observe);
}

// ---------------------------------------------------------------------------------------------

const throughputBatch: Scenario = {
  id: 'throughput-batch',
  title: 'throughput: single tasks in batches of 500',
  run(ctx) {
    const P = ctx.quick ? { tasks: 1000, workers: 100, batchSize: 500, concurrency: 2, warm: 50 } : { tasks: 20_000, workers: 100, batchSize: 500, concurrency: 2, warm: 500 };
    return withStack(ctx, this.id, this.title, P, async (st, res) => {
      await st.addWorkers(P.workers);
      await st.warmUp(P.warm);
      await prepare(st, { done: true });
      const win = await st.beginWindow();
      const sub = await st.load.call<SubmitResult>(
        'submitBatches',
        { prefix: `${st.prefix}-t`, count: P.tasks, batchSize: P.batchSize, concurrency: P.concurrency },
        doneTimeoutMs(P.tasks),
      );
      const done = await st.load.call<WaitDone>('waitDone', { timeoutMs: doneTimeoutMs(P.tasks) }, doneTimeoutMs(P.tasks) + 30_000);
      const w = await win.end(done.done);
      const sim = await st.simStats();
      await checkRun(st, res, 'run', done, sim, sub);
      const rate = done.elapsedMs ? (done.done / done.elapsedMs) * 1000 : null;
      res.figures = { completedPerSec: round(rate), submitToLastDoneMs: round(done.elapsedMs), submitOnlyMs: round(sub.submitMs), batchRequestMs: sub.requestMs };
      res.redis = { run: w };
      res.rows.push(row('completed tasks/s (submit → last DONE)', fmt(rate, '/s'), '≥ 3,000/s', rate !== null && rate >= 3000));
      res.rows.push(batchRow(P.batchSize, sub));
      res.rows.push(row('batch request p50 / p99', `${fmt(sub.requestMs.p50, ' ms')} / ${fmt(sub.requestMs.p99, ' ms')}`));
      res.rows.push(row('Redis commands per task (orchestrator)', `${fmt(w.commandsPerTask)} (${fmt(w.orchestratorCommandsPerTask)})`));
    });
  },
};

const throughputSingle: Scenario = {
  id: 'throughput-single',
  title: 'throughput: one task per request, 32 concurrent clients',
  run(ctx) {
    const P = ctx.quick ? { tasks: 600, workers: 100, concurrency: 32, warm: 50 } : { tasks: 20_000, workers: 100, concurrency: 32, warm: 500 };
    return withStack(ctx, this.id, this.title, P, async (st, res) => {
      await st.addWorkers(P.workers);
      await st.warmUp(P.warm);
      await prepare(st, { done: true });
      const win = await st.beginWindow();
      const sub = await st.load.call<SubmitResult>('submitSingles', { prefix: `${st.prefix}-t`, count: P.tasks, concurrency: P.concurrency }, doneTimeoutMs(P.tasks));
      const done = await st.load.call<WaitDone>('waitDone', { timeoutMs: doneTimeoutMs(P.tasks) }, doneTimeoutMs(P.tasks) + 30_000);
      const w = await win.end(done.done);
      await checkRun(st, res, 'run', done, await st.simStats(), sub);
      const rate = done.elapsedMs ? (done.done / done.elapsedMs) * 1000 : null;
      res.figures = { completedPerSec: round(rate), submitToLastDoneMs: round(done.elapsedMs), requestMs: sub.requestMs };
      res.redis = { run: w };
      res.rows.push(row('completed tasks/s', fmt(rate, '/s'), '≥ 1,500/s', rate !== null && rate >= 1500));
      res.rows.push(row('request p50 / p99', `${fmt(sub.requestMs.p50, ' ms')} / ${fmt(sub.requestMs.p99, ' ms')}`));
      res.rows.push(row('Redis commands per task (orchestrator)', `${fmt(w.commandsPerTask)} (${fmt(w.orchestratorCommandsPerTask)})`));
    });
  },
};

/**
 * The orchestrator samples its event-loop delay every 10 ms (MetricsService); the histogram's values
 * include that interval (an idle loop reads ~10 ms), so it is taken off here.
 */
const EVENT_LOOP_SAMPLING_MS = 10;

/**
 * What held the orchestrator's event loop between two scrapes: its delay beyond the sampling
 * interval (p99 and max, ms) and GC time by kind (ms). A tail of the latency that these do not
 * show is spent outside the orchestrator: in Redis, the other processes, or waiting for a core.
 */
function orchestratorPauses(before: string, after: string) {
  const lag = (name: string) => round(Math.max(0, (samples(after, name)[''] ?? NaN) * 1000 - EVENT_LOOP_SAMPLING_MS));
  const gc = (text: string) => samples(text, 'mloc_nodejs_gc_duration_seconds_sum');
  const [gcBefore, gcAfter] = [gc(before), gc(after)];
  return {
    eventLoopDelayP99Ms: lag('mloc_nodejs_eventloop_lag_p99_seconds'),
    eventLoopDelayMaxMs: lag('mloc_nodejs_eventloop_lag_max_seconds'),
    gcMs: Object.fromEntries(Object.keys(gcAfter).map((k) => [k.replace(/^kind="(.*)"$/, '$1'), round((gcAfter[k] - (gcBefore[k] ?? 0)) * 1000)])),
  };
}

/** Submits `count` tasks at `rate`/s, one per request, and measures submit → dispatch seen. */
async function latencyRun(st: Stack, prefix: string, count: number, rate: number) {
  await prepare(st, { dispatch: true, done: true });
  // The orchestrator's event-loop delay histogram restarts at every scrape: this one starts the run's.
  const metricsBefore = await scrapeMetrics(st.orch.baseUrl);
  const win = await st.beginWindow();
  const sub = await st.load.call<SubmitResult>('submitAtRate', { prefix, count, ratePerSec: rate }, doneTimeoutMs(count) + (count / rate) * 1000);
  await st.load.call('waitDispatched', { timeoutMs: 30_000 }, 40_000);
  const done = await st.load.call<WaitDone>('waitDone', { timeoutMs: doneTimeoutMs(count) }, doneTimeoutMs(count) + 30_000);
  const w = await win.end(done.done);
  const orchestrator = orchestratorPauses(metricsBefore, await scrapeMetrics(st.orch.baseUrl));
  const lat = await st.load.call<{ latencies: number[]; toCreated: number[]; createdToDispatch: number[]; notSeen: number }>('dispatchLatencies');
  return {
    orchestrator,
    sub,
    done,
    w,
    lat: roundSummary(summarize(lat.latencies)),
    split: { submitToCreatedMs: roundSummary(summarize(lat.toCreated)), createdToDispatchMs: roundSummary(summarize(lat.createdToDispatch)) },
    notSeen: lat.notSeen,
    sim: await st.simStats(),
  };
}

const latency: Scenario = {
  id: 'latency',
  title: 'latency at 200 submissions/s with spare workers',
  run(ctx) {
    const P = ctx.quick ? { rate: 200, tasks: 400, workers: 64, warm: 50 } : { rate: 200, tasks: 6000, workers: 64, warm: 500 };
    return withStack(ctx, this.id, this.title, P, async (st, res) => {
      await st.addWorkers(P.workers);
      await st.warmUp(P.warm);
      const r = await latencyRun(st, `${st.prefix}-t`, P.tasks, P.rate);
      await checkRun(st, res, 'run', r.done, r.sim, r.sub);
      res.checks.push({ name: 'every dispatch seen by the observer', ok: r.notSeen === 0, detail: `${r.notSeen} not seen` });
      res.figures = {
        submitToDispatchMs: r.lat,
        ...r.split,
        requestMs: r.sub.requestMs,
        achievedRate: round(r.sub.achievedRate),
        lateSends: r.sub.late,
        orchestrator: r.orchestrator,
      };
      res.redis = { run: r.w };
      res.rows.push(row('submit → dispatch p50', fmt(r.lat.p50, ' ms')));
      res.rows.push(row('submit → dispatch p99', fmt(r.lat.p99, ' ms'), '≤ 10 ms', r.lat.p99 !== null && r.lat.p99 <= 10));
      res.rows.push(
        row('of which submit → task created / created → dispatch, p99', `${fmt(r.split.submitToCreatedMs.p99, ' ms')} / ${fmt(r.split.createdToDispatchMs.p99, ' ms')}`),
      );
      res.rows.push(row('request p50 / p99 (the answer waits for a scheduling pass)', `${fmt(r.sub.requestMs.p50, ' ms')} / ${fmt(r.sub.requestMs.p99, ' ms')}`));
      res.rows.push(row('achieved submission rate', fmt(r.sub.achievedRate, '/s')));
      const gcTotal = Object.values(r.orchestrator.gcMs).reduce((a: number, b) => a + (b ?? 0), 0);
      res.rows.push(
        row(
          'orchestrator event-loop delay p99 / max; GC during the run',
          `${fmt(r.orchestrator.eventLoopDelayP99Ms, ' ms')} / ${fmt(r.orchestrator.eventLoopDelayMaxMs, ' ms')}; ${fmt(round(gcTotal), ' ms')}`,
        ),
      );
    });
  },
};

const pipeline: Scenario = {
  id: 'pipeline',
  title: 'pipeline handoff: three-stage pipelines',
  run(ctx) {
    const P = ctx.quick ? { pipelines: 50, ratePerSec: 50, workers: 100, warm: 50 } : { pipelines: 500, ratePerSec: 50, workers: 100, warm: 500 };
    return withStack(ctx, this.id, this.title, P, async (st, res) => {
      await st.addWorkers(P.workers);
      await st.warmUp(P.warm);
      await prepare(st, { done: true }, { handoffs: true });
      const win = await st.beginWindow();
      const sub = await st.load.call<SubmitResult>(
        'submitAtRate',
        { prefix: `${st.prefix}-p`, count: P.pipelines, ratePerSec: P.ratePerSec, doc: { stages: 3 } },
        doneTimeoutMs(P.pipelines * 3) + (P.pipelines / P.ratePerSec) * 1000,
      );
      const done = await st.load.call<WaitDone>('waitDone', { timeoutMs: doneTimeoutMs(P.pipelines * 3) }, doneTimeoutMs(P.pipelines * 3) + 30_000);
      const w = await win.end(done.done);
      await checkRun(st, res, 'run', done, await st.simStats(), sub);
      const { handoffs } = await st.sim.call<{ handoffs: number[] }>('records');
      const h = roundSummary(summarize(handoffs));
      res.checks.push({ name: 'every handoff measured', ok: h.n === P.pipelines * 2, detail: `${h.n} of ${P.pipelines * 2}` });
      res.figures = { handoffMs: h, requestMs: sub.requestMs };
      res.redis = { run: w };
      res.rows.push(row('handoff p50', fmt(h.p50, ' ms')));
      res.rows.push(row('handoff p99 (stage n TASK_SUCCEEDED → n+1 dispatch)', fmt(h.p99, ' ms'), '≤ 10 ms', h.p99 !== null && h.p99 <= 10));
    });
  },
};

const PLACEMENT_HISTOGRAM = 'mloc_scheduler_placement_seconds';

const workerScale: Scenario = {
  id: 'worker-scale',
  title: 'worker scale: 10, 1,000 and 10,000 registered workers',
  run(ctx) {
    const P = ctx.quick ? { sizes: [10, 100, 1000], tasks: 60, rate: 200, warm: 20 } : { sizes: [10, 1000, 10_000], tasks: 2000, rate: 200, warm: 200 };
    return withStack(
      ctx,
      this.id,
      this.title,
      P,
      async (st, res) => {
        const per: Record<string, unknown> = {};
        res.redis = {};
        const cmdPerTask: number[] = [];
        let p99AtMax: number | null = null;
        let registered = 0;
        for (const size of P.sizes) {
          const reg = await st.addWorkers(size - registered, { tag: `n${size}` });
          registered = size;
          await st.warmUp(P.warm);
          const placedBefore = await scrapeHistogram(st.orch.baseUrl, PLACEMENT_HISTOGRAM);
          const r = await latencyRun(st, `${st.prefix}-n${size}`, P.tasks, P.rate);
          const placed = histogramDelta(placedBefore, await scrapeHistogram(st.orch.baseUrl, PLACEMENT_HISTOGRAM));
          const placement = {
            count: placed.count,
            p50: round(histogramQuantileMs(placed, 0.5)),
            p99: round(histogramQuantileMs(placed, 0.99)),
            meanMs: round(placed.count ? (placed.sum / placed.count) * 1000 : null),
          };
          await checkRun(st, res, `${size} workers`, r.done, r.sim, r.sub);
          per[size] = {
            registrationMs: round(reg.ms),
            placementMs: placement,
            submitToDispatchMs: r.lat,
            ...r.split,
            requestMs: r.sub.requestMs,
            commandsPerTask: r.w.commandsPerTask,
            orchestratorCommandsPerTask: r.w.orchestratorCommandsPerTask,
          };
          res.redis[`${size} workers`] = r.w;
          if (r.w.orchestratorCommandsPerTask !== null) cmdPerTask.push(r.w.orchestratorCommandsPerTask);
          // Placement time as the orchestrator measures it (histogram mloc_scheduler_placement_seconds:
          // from a queued task's record to its chosen worker(s), in memory). From outside, task created
          // (ORCH_TASK_SUBMITTED seen) -> dispatch seen adds the claim round trip and event-loop waits,
          // and submit -> dispatch adds HTTP and parsing as well.
          p99AtMax = placement.p99;
          const largest = size === P.sizes[P.sizes.length - 1];
          res.rows.push(
            row(
              `${size} workers: placement time p50 / p99 (${placement.count} placed)`,
              `${fmt(placement.p50, ' ms')} / ${fmt(placement.p99, ' ms')}`,
              largest ? '≤ 1 ms (p99)' : '',
              largest ? placement.p99 !== null && placement.p99 <= 1 : null,
            ),
          );
          res.rows.push(
            row(`${size} workers: task created → dispatch seen p50 / p99`, `${fmt(r.split.createdToDispatchMs.p50, ' ms')} / ${fmt(r.split.createdToDispatchMs.p99, ' ms')}`),
          );
          res.rows.push(row(`${size} workers: submit → dispatch seen p50 / p99`, `${fmt(r.lat.p50, ' ms')} / ${fmt(r.lat.p99, ' ms')}`));
          res.rows.push(row(`${size} workers: Redis commands per task (orchestrator)`, `${fmt(r.w.commandsPerTask)} (${fmt(r.w.orchestratorCommandsPerTask)})`));
        }
        const spread = cmdPerTask.length ? Math.max(...cmdPerTask) / Math.max(1e-9, Math.min(...cmdPerTask)) : null;
        res.figures = { bySize: per, orchestratorCommandsPerTaskSpread: round(spread), placementP99AtLargest: p99AtMax };
        res.rows.push(row('orchestrator commands per task, largest / smallest size', fmt(spread, '×'), 'the same (≤ 1.1×)', spread !== null && spread <= 1.1));
      },
      { heartbeatIntervalMs: 30_000 },
    );
  },
};

const history: Scenario = {
  id: 'history',
  title: 'history: finished tasks kept in Redis',
  run(ctx) {
    const P = ctx.quick
      ? { tasks: 1000, workers: 100, batchSize: 500, concurrency: 2, listRequests: 30, getRequests: 100 }
      : { tasks: 100_000, workers: 100, batchSize: 500, concurrency: 2, listRequests: 300, getRequests: 2000 };
    return withStack(ctx, this.id, this.title, P, async (st, res) => {
      await st.addWorkers(P.workers);
      await prepare(st, { done: true });
      const fill = await st.beginWindow();
      const sub = await st.load.call<SubmitResult>(
        'submitBatches',
        { prefix: `${st.prefix}-h`, count: P.tasks, batchSize: P.batchSize, concurrency: P.concurrency },
        doneTimeoutMs(P.tasks),
      );
      const done = await st.load.call<WaitDone>('waitDone', { timeoutMs: doneTimeoutMs(P.tasks) }, doneTimeoutMs(P.tasks) + 30_000);
      const wFill = await fill.end(done.done);
      await checkRun(st, res, 'fill', done, await st.simStats(), sub);
      await st.settle();
      const afterFill = processMemoryMb(st.orch.pid);
      const ids = await st.load.call<string[]>('sampleIds', { n: Math.min(1000, P.getRequests) });
      const metricsBefore = await scrapeMetrics(st.orch.baseUrl);
      const win = await st.beginWindow();
      const list = await st.load.call<{ latencies: number[]; statuses: Record<string, number>; meanBytes: number }>(
        'measureGets',
        { paths: ['/api/v1/tasks?limit=100'], count: P.listRequests, concurrency: 1 },
        300_000,
      );
      const metricsBetween = await scrapeMetrics(st.orch.baseUrl);
      const one = await st.load.call<{ latencies: number[]; statuses: Record<string, number>; meanBytes: number }>(
        'measureGets',
        { paths: ids.map((id) => `/api/v1/tasks/${id}`), count: P.getRequests, concurrency: 1 },
        300_000,
      );
      const wGet = await win.end(P.listRequests + P.getRequests);
      const metricsAfter = await scrapeMetrics(st.orch.baseUrl);
      // What the orchestrator's own process metrics say about each GET phase: event-loop delay, GC time by kind.
      const duringLists = orchestratorPauses(metricsBefore, metricsBetween);
      const duringGets = orchestratorPauses(metricsBetween, metricsAfter);
      const heapUsedMb = round((samples(metricsBefore, 'mloc_nodejs_heap_size_used_bytes')[''] ?? NaN) / 2 ** 20);
      const mem = processMemoryMb(st.orch.pid);
      const redisMb = await redisMemoryMb(st.admin);
      const l = roundSummary(summarize(list.latencies));
      const g = roundSummary(summarize(one.latencies));
      res.checks.push({
        name: 'every GET answered 200',
        ok: Object.keys(list.statuses).every((s) => s === '200') && Object.keys(one.statuses).every((s) => s === '200'),
        detail: JSON.stringify({ list: list.statuses, one: one.statuses }),
      });
      res.figures = {
        finishedTasks: done.done,
        fillRatePerSec: round(done.elapsedMs ? (done.done / done.elapsedMs) * 1000 : null),
        listMs: l,
        listMeanBytes: round(list.meanBytes),
        getMs: g,
        getMeanBytes: round(one.meanBytes),
        orchestratorRssMb: round(mem.rssMb),
        orchestratorPeakRssMb: round(mem.peakMb),
        orchestratorRssAfterFillMb: round(afterFill.rssMb),
        orchestratorHeapUsedAfterFillMb: heapUsedMb,
        orchestratorDuringLists: duringLists,
        orchestratorDuringGets: duringGets,
        redisUsedMemoryMb: round(redisMb),
      };
      res.redis = { fill: wFill, gets: wGet };
      res.rows.push(row(`GET /api/v1/tasks?limit=100 p99 (${done.done} finished)`, fmt(l.p99, ' ms'), '≤ 50 ms', l.p99 !== null && l.p99 <= 50));
      res.rows.push(row('GET /api/v1/tasks/{id} p99', fmt(g.p99, ' ms'), '≤ 5 ms', g.p99 !== null && g.p99 <= 5));
      res.rows.push(row('orchestrator RSS (peak)', `${fmt(mem.rssMb, ' MB')} (${fmt(mem.peakMb, ' MB')})`, '≤ 300 MB', mem.rssMb !== null && mem.rssMb <= 300));
      res.rows.push(row(`fill rate (batches of ${sub.batchCap ?? P.batchSize})`, fmt(res.figures.fillRatePerSec as number, '/s')));
    });
  },
};

const shards: Scenario = {
  id: 'shards',
  title: 'shards: one inference job of 64 shards on 64 workers',
  run(ctx) {
    const P = ctx.quick ? { jobs: 5, workers: 64, maxShards: 64, prompts: 128, warm: 20 } : { jobs: 30, workers: 64, maxShards: 64, prompts: 128, warm: 100 };
    return withStack(ctx, this.id, this.title, P, async (st, res) => {
      await st.addWorkers(P.workers, { hardware: 'gpu' });
      await st.warmUp(P.warm, { gpu: true });
      await prepare(st, { done: true }, { taskEvents: true });
      const win = await st.beginWindow();
      const makespan: number[] = [];
      let submitErrors = 0;
      for (let j = 0; j < P.jobs; j++) {
        await st.load.call('reset');
        const sub = await st.load.call<SubmitResult>('submitBatches', {
          prefix: `${st.prefix}-job${j}`,
          count: 1,
          batchSize: 1,
          concurrency: 1,
          doc: { taskType: 'inference', gpu: true, maxShards: P.maxShards, prompts: P.prompts },
        });
        submitErrors += sub.errors;
        const done = await st.load.call<WaitDone>('waitDone', { timeoutMs: 30_000 }, 40_000);
        if (done.missing) throw new Error(`job ${j}: parent not DONE within 30 s`);
        if (done.elapsedMs !== null) makespan.push(done.elapsedMs);
        await st.settle(10_000);
      }
      const sim = await st.simStats();
      const w = await win.end(sim.succeeded);
      const { shardDone } = await st.sim.call<{ shardDone: { parentId: string; shards: number; ms: number }[] }>('records');
      const lat = roundSummary(summarize(shardDone.map((s) => s.ms).filter((v) => Number.isFinite(v))));
      const shardCounts = [...new Set(shardDone.map((s) => s.shards))];
      res.checks.push({ name: 'every parent seen DONE after its shards', ok: shardDone.length === P.jobs, detail: `${shardDone.length} of ${P.jobs}` });
      // Fewer shards than workers is a placement figure (idle workers the orchestrator did not see), not a loss.
      const full = shardDone.filter((d) => d.shards === P.maxShards).length;
      res.checks.push({
        name: 'no task dispatched twice, none to a busy worker',
        ok: sim.duplicateDispatches === 0 && sim.busyDispatches === 0 && sim.errors === 0,
        detail: JSON.stringify({ dup: sim.duplicateDispatches, busy: sim.busyDispatches, errors: sim.errors }),
      });
      res.checks.push({ name: 'every submission accepted', ok: submitErrors === 0, detail: String(submitErrors) });
      const m = roundSummary(summarize(makespan));
      res.figures = { lastShardToParentDoneMs: lat, jobMakespanMs: m, shardCounts: shardDone.map((d) => d.shards) };
      res.redis = { run: w };
      res.rows.push(row('last shard TASK_SUCCEEDED → parent DONE p50', fmt(lat.p50, ' ms')));
      res.rows.push(row(`last shard TASK_SUCCEEDED → parent DONE p99 (${lat.n} jobs)`, fmt(lat.p99, ' ms'), '≤ 50 ms', lat.p99 !== null && lat.p99 <= 50));
      res.rows.push(row('job submit → parent DONE p50', fmt(m.p50, ' ms')));
      res.rows.push(
        row(
          `jobs fanned out to all ${P.workers} idle workers`,
          `${full} of ${shardDone.length} (shard counts seen: ${shardCounts.join(', ')})`,
          `${P.maxShards} shards every time`,
          full === P.jobs,
        ),
      );
    });
  },
};

const PRIORITIES = [0, 10, -5, 3, 0, 7, 0, -5, 3, 10, 0, 1];

const saturation: Scenario = {
  id: 'saturation',
  title: 'saturation: a deep queue of mixed priorities on 10 workers',
  run(ctx) {
    const P = ctx.quick ? { tasks: 300, workers: 10, batchSize: 100, taskMs: 1 } : { tasks: 5000, workers: 10, batchSize: 500, taskMs: 1 };
    return withStack(ctx, this.id, this.title, P, async (st, res) => {
      // The whole queue is in place before the workers come, so the drain order is exactly testable.
      await prepare(st, { done: true }, { order: true });
      const sub = await st.load.call<SubmitResult>(
        'submitBatches',
        { prefix: `${st.prefix}-s`, count: P.tasks, batchSize: P.batchSize, concurrency: 1, priorities: PRIORITIES },
        120_000,
      );
      await st.settle();
      const win = await st.beginWindow();
      await st.load.call('markStart');
      await st.sim.call('addWorkers', { prefix: `${st.prefix}-w`, count: P.workers, taskMs: P.taskMs });
      const done = await st.load.call<WaitDone>('waitDone', { timeoutMs: doneTimeoutMs(P.tasks) }, doneTimeoutMs(P.tasks) + 30_000);
      const w = await win.end(done.done);
      const sim = await st.simStats();
      const { lost } = await checkRun(st, res, 'run', done, sim, sub);
      const pending = await st.load.call<{ status: number; body: unknown[] }>('getJson', { path: '/api/v1/tasks?status=PENDING&limit=10' });
      res.checks.push({
        name: 'queue drained (no PENDING task left)',
        ok: pending.status === 200 && pending.body.length === 0,
        detail: `${pending.status} ${pending.body.length ?? ''}`,
      });
      // Ideal order: priority desc, then submission order. A dispatch may run ahead of a
      // higher-priority task by at most one pass of claims (the workers already being filled).
      const { orderLog } = await st.sim.call<{ orderLog: { name: string; priority: number }[] }>('records');
      const index = (name: string) => Number(/-(\d+)$/.exec(name)?.[1] ?? -1);
      const prio = orderLog.map((d) => d.priority);
      const window = P.workers;
      const suffixMax: number[] = new Array(prio.length + 1).fill(-Infinity);
      for (let i = prio.length - 1; i >= 0; i--) suffixMax[i] = Math.max(prio[i], suffixMax[i + 1]);
      let violations = 0;
      for (let i = 0; i < prio.length; i++) if (suffixMax[Math.min(prio.length, i + window + 1)] > prio[i]) violations++;
      const ideal = orderLog.map((d, pos) => ({ pos, p: d.priority, i: index(d.name) })).sort((a, b) => b.p - a.p || a.i - b.i);
      let maxDisplacement = 0;
      ideal.forEach((d, rank) => (maxDisplacement = Math.max(maxDisplacement, Math.abs(d.pos - rank))));
      const exact = ideal.every((d, rank) => d.pos === rank);
      const inOrderPct = prio.length ? ((prio.length - violations) / prio.length) * 100 : 0;
      const donePct = (done.done / P.tasks) * 100;
      res.checks.push({
        name: 'drained in priority order (within one pass of claims)',
        ok: violations === 0 && orderLog.length === P.tasks,
        detail: `${orderLog.length} of ${P.tasks} dispatches seen; ${violations} dispatch(es) ahead of a higher-priority task by more than ${window}; max displacement ${maxDisplacement}; exact order ${exact}`,
      });
      res.figures = {
        donePct: round(donePct),
        inPriorityOrderPct: round(inOrderPct),
        maxDisplacement,
        exactOrder: exact,
        drainMs: round(done.elapsedMs),
        duplicates: sim.duplicateDispatches,
      };
      res.redis = { drain: w };
      const ok = donePct === 100 && violations === 0 && sim.duplicateDispatches === 0 && done.missing === 0;
      const lostText = lost > 0 ? `${lost} lost` : done.missing > 0 ? `none lost (${done.missing} still queued at the deadline)` : 'none lost';
      res.rows.push(row('done / lost / in priority order', `${fmt(donePct, '%')} / ${lostText} / ${fmt(inOrderPct, '%')}`, '100% / none / 100%', ok));
      res.rows.push(row('drain time (workers start → last DONE)', fmt(done.elapsedMs, ' ms')));
      res.rows.push(row('Redis commands per task while draining (orchestrator)', `${fmt(w.commandsPerTask)} (${fmt(w.orchestratorCommandsPerTask)})`));
    });
  },
};

/** One sample of the retention run: Redis memory and what it holds. */
interface RetentionSample {
  atSec: number;
  usedMb: number;
  /** Every task record in Redis (mloc:tasks): finished ones kept for their retention, and the ones still running. */
  tasks: number;
  /** The finished index (mloc:tasks:finished). */
  finished: number;
}

/**
 * Retention (issue 13): a million small tasks pushed through with a retention of a few seconds, in
 * rounds (the load generator keeps every id of a round), while Redis `used_memory` is sampled every
 * second. It must plateau: the last quarter of the run no higher than the second quarter.
 */
const retention: Scenario = {
  id: 'retention',
  title: 'retention: a million tasks through, used_memory plateaus',
  run(ctx) {
    const P = ctx.quick
      ? { tasks: 20_000, round: 5000, retentionSec: 2, workers: 100, batchSize: 500, concurrency: 2 }
      : { tasks: 1_000_000, round: 20_000, retentionSec: 5, workers: 100, batchSize: 500, concurrency: 2 };
    return withStack(
      ctx,
      this.id,
      this.title,
      P,
      async (st, res) => {
        await st.addWorkers(P.workers);
        await prepare(st, { done: true });
        await st.settle();
        const used = async () => (await redisMemoryMb(st.admin))!;
        const baselineMb = await used();
        const baselineKeys = await st.admin.dbsize();
        // The removal script's run time at its batch size: SLOWLOG keeps the scripts over 100 µs.
        await slowlogStart(st.admin, 100);
        const samples: RetentionSample[] = [];
        const t0 = Date.now();
        const sample = async () => {
          const [usedMb, tasks, finished] = await Promise.all([used(), st.admin.zcard('mloc:tasks'), st.admin.zcard('mloc:tasks:finished')]);
          samples.push({ atSec: round((Date.now() - t0) / 1000)!, usedMb: round(usedMb)!, tasks, finished });
        };
        const timer = setInterval(() => void sample().catch(() => undefined), 1000);
        let done = 0;
        let created = 0;
        const sim = { duplicateDispatches: 0, busyDispatches: 0, errors: 0, subscriberReconnects: 0, lastError: '' } as SimStats;
        const submitErrors: string[] = [];
        let errors = 0;
        try {
          for (let start = 0; start < P.tasks; start += P.round) {
            await st.load.call('reset');
            const count = Math.min(P.round, P.tasks - start);
            const sub = await st.load.call<SubmitResult>(
              'submitBatches',
              { prefix: `${st.prefix}-r${start}`, count, batchSize: P.batchSize, concurrency: P.concurrency },
              doneTimeoutMs(count),
            );
            const d = await st.load.call<WaitDone>('waitDone', { timeoutMs: doneTimeoutMs(count) }, doneTimeoutMs(count) + 30_000);
            done += d.done;
            created += d.created;
            errors += sub.errors;
            submitErrors.push(...sub.firstErrors.slice(0, 2));
            const s = await st.simStats();
            sim.duplicateDispatches += s.duplicateDispatches;
            sim.busyDispatches += s.busyDispatches;
            sim.errors += s.errors;
            sim.subscriberReconnects += s.subscriberReconnects;
            sim.lastError ||= s.lastError;
            await st.sim.call('reset');
            if (d.missing > 0) break;
          }
          const fillSec = (Date.now() - t0) / 1000;
          // Then nothing more comes: everything goes once its retention is over.
          const drainDeadline = Date.now() + (P.retentionSec + 30) * 1000;
          while (Date.now() < drainDeadline && (await st.admin.zcard('mloc:tasks')) > 0) await sleep(500);
          await sample();
          clearInterval(timer);
          const slow = await slowlogTop(st.admin, 1024);
          const removal = slow.top.filter((e) => / \* 100 \d+ 60000$/.test(e.command)).map((e) => e.durationUs);
          const fill = samples.filter((x) => x.atSec <= fillSec);
          const quarter = (q: number) => fill.slice(Math.floor((fill.length * q) / 4), Math.floor((fill.length * (q + 1)) / 4));
          const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
          const q2 = mean(quarter(1).map((x) => x.usedMb));
          const q4 = mean(quarter(3).map((x) => x.usedMb));
          const peak = Math.max(...fill.map((x) => x.usedMb));
          const steady = [...quarter(1), ...quarter(2), ...quarter(3)].filter((x) => x.tasks > 0);
          const perTask = steady.map((x) => ((x.usedMb - baselineMb) * 2 ** 20) / x.tasks).sort((a, b) => a - b);
          const bytesPerTask = perTask.length ? perTask[Math.floor(perTask.length / 2)] : NaN;
          const keptTasks = steady.map((x) => x.tasks).sort((a, b) => a - b);
          const last = samples[samples.length - 1];
          const rate = done / fillSec;
          const plateau = Number.isFinite(q2) && Number.isFinite(q4) && q4 <= q2 * 1.1 + 5;
          res.checks.push({ name: 'every task DONE', ok: done === P.tasks && created === P.tasks, detail: `${done}/${created} of ${P.tasks}` });
          res.checks.push({
            name: 'no task dispatched twice, none to a busy worker, no worker error',
            ok: sim.duplicateDispatches === 0 && sim.busyDispatches === 0 && sim.errors === 0,
            detail: JSON.stringify(sim),
          });
          res.checks.push({ name: 'every submission accepted', ok: errors === 0, detail: `${errors} ${submitErrors.slice(0, 3).join(' | ')}` });
          // A quick run (four rounds, ~20 s) is too short to tell a plateau from the swing of its rounds:
          // there the plateau is a figure with a target, a broken check only at full size.
          if (!ctx.quick)
            res.checks.push({ name: 'used_memory plateaus (last quarter of the run ≤ second quarter + 10%)', ok: plateau, detail: `${round(q2)} MB → ${round(q4)} MB` });
          res.checks.push({
            name: 'everything removed once its retention is over',
            ok: last.tasks === 0 && last.finished === 0,
            detail: `${last.tasks} task(s), ${last.finished} finished entries left; ${await st.admin.dbsize()} keys (before: ${baselineKeys})`,
          });
          res.figures = {
            tasks: done,
            completedPerSec: round(rate),
            baselineMb: round(baselineMb),
            peakMb: round(peak),
            secondQuarterMb: round(q2),
            lastQuarterMb: round(q4),
            afterDrainMb: round(last.usedMb),
            bytesPerKeptTask: round(bytesPerTask),
            keptTasksMedian: keptTasks.length ? keptTasks[Math.floor(keptTasks.length / 2)] : null,
            removalScriptUs: removal.length ? roundSummary(summarize(removal)) : null,
            removalScriptsOver100Us: removal.length,
            samples: samples.length > 400 ? samples.filter((_, i) => i % Math.ceil(samples.length / 400) === 0) : samples,
          };
          res.rows.push(
            row(
              `Redis used_memory, ${P.tasks.toLocaleString('en')} tasks with ${P.retentionSec} s retention`,
              `${fmt(baselineMb, ' MB')} before, plateau ${fmt(q2, ' MB')} → ${fmt(q4, ' MB')}, peak ${fmt(peak, ' MB')}, ${fmt(last.usedMb, ' MB')} after`,
              'plateaus',
              plateau,
            ),
          );
          res.rows.push(row('bytes per task kept (median over the run)', fmt(bytesPerTask, ' B')));
          res.rows.push(row('completed tasks/s with removal running', fmt(rate, '/s')));
          res.rows.push(
            row(
              `remove-expired at its batch (100), p50 / max of the runs over 100 µs`,
              removal.length ? `${fmt(summarize(removal).p50, ' µs')} / ${fmt(Math.max(...removal), ' µs')} (${removal.length} runs)` : 'none over 100 µs',
            ),
          );
        } finally {
          clearInterval(timer);
        }
      },
      { orchestratorEnv: { TASK_RETENTION_SEC: String(P.retentionSec) } },
    );
  },
};

export const SCENARIOS: Scenario[] = [throughputBatch, throughputSingle, latency, pipeline, workerScale, history, shards, saturation, retention];

export { sleep };
