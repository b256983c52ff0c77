/** How the demo prints tasks: one line per state change, and the final table. Pure formatting. */
import type { TaskResponse } from '../src/tasks/task-record';

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/** How long a task ran: first dispatch (or submission) to the end, so a sharded parent counts its shards. */
export function taskDuration(t: TaskResponse): string {
  const start = Date.parse(t.started_at ?? t.dispatched_at ?? t.submitted_at);
  const end = t.finished_at ? Date.parse(t.finished_at) : NaN;
  return Number.isNaN(start) || Number.isNaN(end) ? '-' : seconds(end - start);
}

export function progressLine(elapsedMs: number, t: TaskResponse): string {
  const where = t.assigned_worker ? ` on ${t.assigned_worker}` : '';
  const why = t.status === 'DISPATCHED' && t.strategy ? ` (${t.strategy})` : '';
  const error = t.error && t.status !== 'DONE' ? `  ${t.error}` : '';
  return `  +${seconds(elapsedMs).padStart(6)}  ${t.name.padEnd(34)} ${t.status.padEnd(10)}${where}${why}${error}`.trimEnd();
}

/** The submitted tasks in `order`, each sharded parent followed by its shards. */
export function taskTable(tasks: TaskResponse[], order: string[]): string {
  const byId = new Map(tasks.map((t) => [t.task_id, t]));
  const rows: [string, string, string, string, string][] = [['TASK', 'STATUS', 'WORKER', 'STRATEGY', 'DURATION']];
  for (const t of order.map((id) => byId.get(id)).filter((x): x is TaskResponse => !!x)) {
    rows.push(row(t.name, t));
    for (const child of (t.children ?? []).map((id) => byId.get(id)).filter((c): c is TaskResponse => !!c))
      rows.push(row(`  └ shard ${(child.shard_index ?? 0) + 1}/${child.shard_total}`, child));
  }
  const widths = rows[0].map((_, col) => Math.max(...rows.map((r) => r[col].length)));
  return rows.map((r) => `  ${r.map((cell, col) => cell.padEnd(widths[col])).join('  ')}`.trimEnd()).join('\n');
}

function row(label: string, t: TaskResponse): [string, string, string, string, string] {
  return [label, t.status, t.assigned_worker ?? '-', t.strategy ?? '-', taskDuration(t)];
}
