import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Buckets for work that should take micro- to milliseconds (placement, a scheduling pass). */
const FAST_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

/**
 * Prometheus metrics (prom-client), served at GET /metrics. One registry per app instance, so
 * several instances in one process (tests) do not collide. Process metrics (CPU, memory, event
 * loop lag, GC) come from prom-client's defaults, prefixed `mloc_`.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  /** Time to choose the worker(s) of one task, from its queue entry to the decision (no Redis). */
  readonly placementSeconds = new Histogram({
    name: 'mloc_scheduler_placement_seconds',
    help: 'Time to choose the worker(s) for one queued task (in memory, without Redis round trips)',
    buckets: FAST_BUCKETS,
    registers: [this.registry],
  });

  /** One scheduling pass that placed something: queue read, placement, claims and their replies. */
  readonly passSeconds = new Histogram({
    name: 'mloc_scheduler_pass_seconds',
    help: 'Duration of a scheduling pass that sent claims, Redis round trips included',
    buckets: FAST_BUCKETS,
    registers: [this.registry],
  });

  /** Reads of the ready queue (one script each): what scheduling costs Redis when there is little to place. */
  readonly queueReads = new Counter({
    name: 'mloc_scheduler_queue_reads_total',
    help: 'Chunks of the ready queue read by scheduling passes (one Redis script each)',
    registers: [this.registry],
  });

  /** Tasks their own submission dispatched, with no scheduling pass (SchedulerService.reserveFor). */
  readonly submitDispatches = new Counter({
    name: 'mloc_scheduler_submit_dispatches_total',
    help: 'Tasks dispatched by the script that created them (a one-task submission while nothing else was queued); also counted in mloc_tasks_dispatched_total',
    registers: [this.registry],
  });

  readonly tasksDispatched = new Counter({
    name: 'mloc_tasks_dispatched_total',
    help: 'Tasks dispatched (a fan-out counts once), by placement strategy',
    labelNames: ['strategy'] as const,
    registers: [this.registry],
  });

  readonly claimsRefused = new Counter({
    name: 'mloc_scheduler_claims_refused_total',
    help: 'Planned dispatches the claim script refused (the worker or task changed meanwhile), by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly tasksSubmitted = new Counter({
    name: 'mloc_tasks_submitted_total',
    help: 'Tasks created by submissions to this instance (stages and graph nodes count one each)',
    registers: [this.registry],
  });

  constructor() {
    // The event-loop lag gauges come from perf_hooks.monitorEventLoopDelay sampled every 10 ms; like
    // every such histogram they include that interval (an idle loop reads ~10 ms), see performance.md.
    collectDefaultMetrics({ register: this.registry, prefix: 'mloc_', eventLoopMonitoringPrecision: 10 });
  }

  /** A gauge whose value is read when /metrics is scraped. */
  gauge(name: string, help: string, read: () => number | Promise<number>): Gauge {
    return new Gauge({
      name,
      help,
      registers: [this.registry],
      async collect() {
        this.set(await read());
      },
    });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
