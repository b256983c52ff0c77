/**
 * The HTTP load client, a forked child of the runner: submits task documents to the orchestrator
 * (multi-document YAML batches, one task per request with N concurrent clients, or an open-loop
 * rate), reads records back, and watches the Redis channels as a subscriber so that every time it
 * reports is measured on one clock: submit sent -> dispatch message seen on the task topic, and
 * first submit -> last ORCH_TASK_DONE seen on tasks.events.
 */
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { DEFAULT_TASK_TOPIC, OrchestratorEventType, TASKS_EVENTS_CHANNEL } from '../src/contracts/protocol';
import { DocOptions, multiDoc, taskYaml } from './lib/docs';
import { serve } from './lib/rpc';
import { roundSummary, sleep, summarize } from './lib/stats';

interface LoadConfig {
  baseUrl: string;
  token: string;
  redisUrl: string;
  topic?: string;
}

let cfg: LoadConfig;
let agent: Agent;
let sub: Redis | null = null;
let topic = DEFAULT_TASK_TOPIC;
const now = () => performance.now();

// Observations, cleared by reset().
let watchDispatch = false;
let watchDone = false;
const dispatchAt = new Map<string, number>();
const createdAt = new Map<string, number>(); // by name: ORCH_TASK_SUBMITTED seen (the task exists)
const doneAt = new Map<string, number>();
const endedOtherwise = new Map<string, string>();
const submittedAt = new Map<string, number>(); // by name
const idsByName = new Map<string, string>();
const allIds: string[] = [];
let firstSubmitAt = 0;
let requestMs: number[] = [];
let errors: string[] = [];
let errorCount = 0;
let inFlight = 0;
let subscriberReconnects = 0;

function httpCall(method: string, path: string, body?: string, contentType = 'text/yaml'): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { Authorization: `Bearer ${cfg.token}` };
    if (body !== undefined) {
      headers['Content-Type'] = contentType;
      headers['Content-Length'] = Buffer.byteLength(body);
    }
    const req = request(`${cfg.baseUrl}${path}`, { method, agent, headers, timeout: 120_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 120 s`)));
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function noteError(what: string) {
  errorCount++;
  if (errors.length < 10) errors.push(what.slice(0, 400));
}

async function init(c: LoadConfig) {
  cfg = c;
  topic = c.topic ?? DEFAULT_TASK_TOPIC;
  agent = new Agent({ keepAlive: true, maxSockets: 512 });
  sub = new Redis(c.redisUrl, { connectionName: 'bench-load-sub', maxRetriesPerRequest: null });
  sub.on('reconnecting', () => subscriberReconnects++);
  sub.on('message', (channel: string, raw: string) => {
    if (channel === topic) onDispatch(raw);
    else if (channel === TASKS_EVENTS_CHANNEL) onTaskEvent(raw);
  });
  await sub.ping();
  return { pid: process.pid };
}

function onDispatch(raw: string) {
  const t = now();
  try {
    const msg = JSON.parse(raw) as { task?: { metadata?: { name?: string } } };
    const name = msg.task?.metadata?.name;
    if (name && !dispatchAt.has(name)) dispatchAt.set(name, t);
  } catch {
    /* not ours to judge */
  }
}

const FINAL_EVENTS = [OrchestratorEventType.DONE, OrchestratorEventType.FAILED, OrchestratorEventType.CANCELLED];

function onTaskEvent(raw: string) {
  if (watchDispatch && raw.includes('ORCH_TASK_SUBMITTED')) {
    const t = now();
    try {
      const ev = JSON.parse(raw) as { type?: string; name?: string };
      if (ev.type === OrchestratorEventType.SUBMITTED && ev.name && !createdAt.has(ev.name)) createdAt.set(ev.name, t);
    } catch {
      /* ignore */
    }
    return;
  }
  // Cheap filter first: most messages on the channel are not terminal events.
  if (!raw.includes('ORCH_TASK_DONE') && !raw.includes('ORCH_TASK_FAILED') && !raw.includes('ORCH_TASK_CANCELLED')) return;
  const t = now();
  try {
    const ev = JSON.parse(raw) as { type?: string; task_id?: string };
    if (!ev.task_id || !FINAL_EVENTS.includes(ev.type as never)) return;
    if (ev.type === OrchestratorEventType.DONE) doneAt.set(ev.task_id, t);
    else endedOtherwise.set(ev.task_id, ev.type!);
  } catch {
    /* ignore */
  }
}

/**
 * The largest number of documents the orchestrator accepts in one request, once it has refused
 * a bigger batch with "at most N per submission" (null: no cap seen). Later batches are then sent
 * in chunks of N, and the scenario reports the cap as a missed requirement.
 */
let batchCap: number | null = null;
let cappedBatches = 0;

/** Submits one request of documents; records ids and timings. Returns the number of tasks created. */
async function submit(docs: { name: string; yaml: string }[]): Promise<number> {
  if (batchCap !== null && docs.length > batchCap) {
    cappedBatches++;
    let n = 0;
    for (let i = 0; i < docs.length; i += batchCap) n += await submitOnce(docs.slice(i, i + batchCap));
    return n;
  }
  return submitOnce(docs);
}

async function submitOnce(docs: { name: string; yaml: string }[]): Promise<number> {
  const t = now();
  if (!firstSubmitAt) firstSubmitAt = t;
  for (const d of docs) submittedAt.set(d.name, t);
  inFlight++;
  try {
    const res = await httpCall('POST', '/api/v1/tasks', multiDoc(docs.map((d) => d.yaml)));
    requestMs.push(now() - t);
    if (res.status !== 200) {
      const cap = /at most (\d+) per submission/.exec(res.body);
      if (res.status === 400 && cap && Number(cap[1]) < docs.length) {
        batchCap = Number(cap[1]);
        inFlight--;
        try {
          return await submit(docs);
        } finally {
          inFlight++;
        }
      }
      noteError(`POST /api/v1/tasks ${res.status}: ${res.body}`);
      return 0;
    }
    const body = JSON.parse(res.body) as { tasks: { task_id: string; name: string }[] };
    for (const task of body.tasks) {
      idsByName.set(task.name, task.task_id);
      allIds.push(task.task_id);
    }
    return body.tasks.length;
  } catch (err) {
    noteError(`POST /api/v1/tasks: ${err instanceof Error ? err.message : String(err)}`);
    return 0;
  } finally {
    inFlight--;
  }
}

interface DocSpec {
  prefix: string;
  count: number;
  doc?: Omit<DocOptions, 'name'>;
  /** Priorities for task i: priorities[(i * 7919) % length] (a fixed, mixed pattern). */
  priorities?: number[];
}

function docAt(s: DocSpec, i: number): { name: string; yaml: string } {
  const name = `${s.prefix}-${i}`;
  const priority = s.priorities ? s.priorities[(i * 7919) % s.priorities.length] : s.doc?.priority;
  return { name, yaml: taskYaml({ ...(s.doc ?? {}), name, priority }) };
}

/** Runs `jobs` with at most `concurrency` at a time. */
async function pool(jobs: number, concurrency: number, job: (i: number) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, jobs) }, async () => {
      while (next < jobs) await job(next++);
    }),
  );
}

const requestSummary = () => ({ batchCap, cappedBatches, requests: requestMs.length, requestMs: roundSummary(summarize(requestMs)), errors: errorCount, firstErrors: errors });

const handlers = {
  init,
  async observe(arg: { dispatch?: boolean; done?: boolean }) {
    const want = new Set<string>();
    if (arg.dispatch) want.add(topic);
    if (arg.done) want.add(TASKS_EVENTS_CHANNEL);
    const have = new Set<string>();
    if (watchDispatch) have.add(topic);
    if (watchDone) have.add(TASKS_EVENTS_CHANNEL);
    const add = [...want].filter((c) => !have.has(c));
    const drop = [...have].filter((c) => !want.has(c));
    if (add.length) await sub!.subscribe(...add);
    if (drop.length) await sub!.unsubscribe(...drop);
    watchDispatch = !!arg.dispatch;
    watchDone = !!arg.done;
    return true;
  },
  reset() {
    dispatchAt.clear();
    createdAt.clear();
    doneAt.clear();
    endedOtherwise.clear();
    submittedAt.clear();
    idsByName.clear();
    allIds.length = 0;
    firstSubmitAt = 0;
    requestMs = [];
    errors = [];
    errorCount = 0;
    cappedBatches = 0;
    return true;
  },

  /** `count` tasks in requests of `batchSize` documents, `concurrency` requests at a time. */
  async submitBatches(arg: DocSpec & { batchSize: number; concurrency: number }) {
    const batches = Math.ceil(arg.count / arg.batchSize);
    const t0 = now();
    await pool(batches, arg.concurrency, (b) => {
      const docs = [];
      for (let i = b * arg.batchSize; i < Math.min(arg.count, (b + 1) * arg.batchSize); i++) docs.push(docAt(arg, i));
      return submit(docs);
    });
    return { ...requestSummary(), created: allIds.length, submitMs: now() - t0 };
  },

  /** One task per request, `concurrency` clients each sending its next request when answered. */
  async submitSingles(arg: DocSpec & { concurrency: number }) {
    const t0 = now();
    await pool(arg.count, arg.concurrency, (i) => submit([docAt(arg, i)]));
    return { ...requestSummary(), created: allIds.length, submitMs: now() - t0 };
  },

  /** Open loop: request i is sent at t0 + i/rate whatever the answers do (bounded in flight). */
  async submitAtRate(arg: DocSpec & { ratePerSec: number; maxInFlight?: number }) {
    const t0 = now();
    const interval = 1000 / arg.ratePerSec;
    const maxInFlight = arg.maxInFlight ?? 256;
    const pending: Promise<number>[] = [];
    let late = 0;
    let throttled = 0;
    for (let i = 0; i < arg.count; i++) {
      const due = t0 + i * interval;
      const wait = due - now();
      if (wait > 0) await sleep(wait);
      else if (wait < -interval) late++;
      while (inFlight >= maxInFlight) {
        throttled++;
        await sleep(1);
        if (now() - t0 > 600_000) throw new Error('submitAtRate: the orchestrator stopped answering');
      }
      pending.push(submit([docAt(arg, i)]));
    }
    await Promise.all(pending);
    const elapsed = now() - t0;
    return { ...requestSummary(), created: allIds.length, submitMs: elapsed, achievedRate: (arg.count / elapsed) * 1000, late, throttled };
  },

  /** Waits until every created task has been seen DONE (or ended otherwise), bounded. */
  async waitDone(arg: { timeoutMs: number; expect?: number }) {
    const deadline = now() + arg.timeoutMs;
    const expected = () => arg.expect ?? allIds.length;
    let finished = 0;
    while (now() < deadline) {
      finished = 0;
      for (const id of allIds) if (doneAt.has(id) || endedOtherwise.has(id)) finished++;
      if (inFlight === 0 && finished >= expected() && allIds.length >= expected()) break;
      await sleep(20);
    }
    let last = 0;
    const missing: string[] = [];
    let done = 0;
    for (const id of allIds) {
      const t = doneAt.get(id);
      if (t !== undefined) {
        done++;
        if (t > last) last = t;
      } else if (!endedOtherwise.has(id)) missing.push(id);
    }
    const other: Record<string, number> = {};
    for (const id of allIds) {
      const s = endedOtherwise.get(id);
      if (s) other[s] = (other[s] ?? 0) + 1;
    }
    return {
      created: allIds.length,
      done,
      endedOtherwise: other,
      missing: missing.length,
      missingSample: missing.slice(0, 200),
      elapsedMs: last && firstSubmitAt ? last - firstSubmitAt : null,
      timedOut: missing.length > 0,
    };
  },

  /**
   * submit -> dispatch seen, per task name (only names submitted since reset), split in two when
   * the ORCH_TASK_SUBMITTED events were watched: submit -> task created, created -> dispatch seen.
   */
  dispatchLatencies() {
    const out: number[] = [];
    const toCreated: number[] = [];
    const createdToDispatch: number[] = [];
    let notSeen = 0;
    for (const [name, t] of submittedAt) {
      const d = dispatchAt.get(name);
      if (d === undefined) {
        notSeen++;
        continue;
      }
      out.push(d - t);
      const c = createdAt.get(name);
      if (c !== undefined) {
        toCreated.push(c - t);
        createdToDispatch.push(d - c);
      }
    }
    return { latencies: out, toCreated, createdToDispatch, notSeen };
  },

  async waitDispatched(arg: { timeoutMs: number }) {
    const deadline = now() + arg.timeoutMs;
    for (;;) {
      let missing = 0;
      for (const name of submittedAt.keys()) if (!dispatchAt.has(name)) missing++;
      if ((missing === 0 && inFlight === 0) || now() > deadline) return { missing };
      await sleep(20);
    }
  },

  /** Sequential-ish GETs: `count` requests over `paths` (cycled), `concurrency` at a time. */
  async measureGets(arg: { paths: string[]; count: number; concurrency: number }) {
    const lat: number[] = [];
    const statuses: Record<string, number> = {};
    let bytes = 0;
    await pool(arg.count, arg.concurrency, async (i) => {
      const path = arg.paths[i % arg.paths.length];
      const t = now();
      try {
        const res = await httpCall('GET', path);
        lat.push(now() - t);
        bytes += res.body.length;
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      } catch (err) {
        statuses.error = (statuses.error ?? 0) + 1;
        noteError(`GET ${path}: ${String(err)}`);
      }
    });
    return { latencies: lat, statuses, meanBytes: lat.length ? bytes / lat.length : 0 };
  },

  /** Status of each task (GET /api/v1/tasks/{id}), counted: tells a slow task from a lost one. */
  async statusCounts(arg: { ids: string[] }) {
    const counts: Record<string, number> = {};
    await pool(arg.ids.length, 8, async (i) => {
      let status = 'unknown';
      try {
        const res = await httpCall('GET', `/api/v1/tasks/${arg.ids[i]}`);
        status = res.status === 200 ? String((JSON.parse(res.body) as { status?: string }).status) : `http ${res.status}`;
      } catch (err) {
        status = `error ${err instanceof Error ? err.message : String(err)}`;
      }
      counts[status] = (counts[status] ?? 0) + 1;
    });
    return counts;
  },

  async getJson(arg: { path: string }) {
    const res = await httpCall('GET', arg.path);
    return { status: res.status, body: res.status === 200 ? JSON.parse(res.body) : res.body, nextCursor: res.headers['x-next-cursor'] ?? null };
  },

  /** Some task ids created since reset, spread over the whole run. */
  sampleIds(arg: { n: number }) {
    if (allIds.length <= arg.n) return [...allIds];
    const step = allIds.length / arg.n;
    return Array.from({ length: arg.n }, (_, i) => allIds[Math.floor(i * step)]);
  },
  /** Times from now on count from here (waitDone's elapsedMs), not from the first submission. */
  markStart() {
    firstSubmitAt = now();
    return true;
  },
  idOf(arg: { name: string }) {
    return idsByName.get(arg.name) ?? null;
  },
  stats() {
    return { ...requestSummary(), created: allIds.length, dispatchSeen: dispatchAt.size, doneSeen: doneAt.size, subscriberReconnects, inFlight };
  },
  async close() {
    sub?.disconnect();
    agent?.destroy();
    setTimeout(() => process.exit(0), 50).unref();
    return true;
  },
};

serve(handlers, () => process.exit(0));
