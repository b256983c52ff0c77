/**
 * Reads a V8 .cpuprofile (what `node --cpu-prof` writes) and says where the time went: self time
 * by function, inclusive time of the orchestrator's own functions (dist/), and a breakdown by
 * origin (orchestrator code, ioredis, express/Nest, winston, yaml, Node internals, GC, idle).
 * Also a command line tool: node dist-bench/bench/lib/profile.js <file.cpuprofile> [top]
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  busyMs: number;
  byOrigin: Record<string, number>;
  topSelf: { fn: string; where: string; ms: number; pct: number }[];
  topInclusiveOwn: { fn: string; where: string; ms: number; pct: number }[];
}

function origin(url: string, fn: string): string {
  if (fn === '(idle)') return 'idle';
  if (fn === '(garbage collector)') return 'gc';
  if (fn === '(program)') return 'program (native, unattributed)';
  if (!url) return 'native / builtins';
  if (url.includes('/node_modules/')) {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
    const pkg = m?.[1] ?? 'node_modules';
    if (
      pkg.startsWith('@nestjs') ||
      ['express', 'router', 'body-parser', 'raw-body', 'path-to-regexp', 'finalhandler', 'send', 'qs', 'on-finished', 'type-is', 'mime-types', 'iconv-lite'].includes(pkg)
    )
      return 'http stack (express, Nest)';
    if (pkg === 'ioredis' || pkg.startsWith('@ioredis') || pkg === 'redis-parser' || pkg === 'cluster-key-slot' || pkg === 'denque' || pkg === 'standard-as-callback')
      return 'ioredis';
    if (
      pkg === 'winston' ||
      pkg.startsWith('logform') ||
      pkg === 'readable-stream' ||
      pkg === 'triple-beam' ||
      pkg.startsWith('@colors') ||
      pkg === 'safe-stable-stringify' ||
      pkg === 'winston-transport' ||
      pkg === 'fecha'
    )
      return 'logging (winston)';
    if (pkg === 'yaml') return 'yaml parser';
    if (pkg === 'class-validator' || pkg === 'class-transformer') return 'validation (class-*)';
    return `other package: ${pkg}`;
  }
  if (url.startsWith('node:')) return 'node internals';
  if (url.includes('/dist/')) return 'orchestrator code (dist/)';
  return 'other';
}

function where(cf: CallFrame): string {
  const short = cf.url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules\/|dist\/)/, '$1');
  return short ? `${short}:${cf.lineNumber + 1}` : '';
}

export function summarizeProfile(file: string, top = 25): ProfileSummary {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Self time per node from samples and time deltas (µs); hitCount as a fallback.
  const selfUs = new Map<number, number>();
  if (prof.samples && prof.timeDeltas) {
    for (let i = 0; i < prof.samples.length; i++) {
      const dt = prof.timeDeltas[i + 1] ?? 0;
      selfUs.set(prof.samples[i], (selfUs.get(prof.samples[i]) ?? 0) + Math.max(0, dt));
    }
  } else {
    const interval =
      (prof.endTime - prof.startTime) /
      Math.max(
        1,
        prof.nodes.reduce((a, n) => a + (n.hitCount ?? 0), 0),
      );
    for (const n of prof.nodes) selfUs.set(n.id, (n.hitCount ?? 0) * interval);
  }
  const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const byOrigin: Record<string, number> = {};
  const selfByFn = new Map<string, { fn: string; where: string; us: number }>();
  const inclusiveOwn = new Map<string, { fn: string; where: string; us: number }>();
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (!n || us === 0) continue;
    const cf = n.callFrame;
    const o = origin(cf.url, cf.functionName);
    byOrigin[o] = (byOrigin[o] ?? 0) + us;
    const key = `${cf.functionName}|${cf.url}|${cf.lineNumber}`;
    const e = selfByFn.get(key) ?? { fn: cf.functionName || '(anonymous)', where: where(cf), us: 0 };
    e.us += us;
    selfByFn.set(key, e);
    // Inclusive time of orchestrator functions: walk up the stack, count each function once.
    const counted = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      if (!f.url.includes('/dist/') || f.url.includes('/node_modules/')) continue;
      const k = `${f.functionName}|${f.url}|${f.lineNumber}`;
      if (counted.has(k)) continue;
      counted.add(k);
      const ie = inclusiveOwn.get(k) ?? { fn: f.functionName || '(anonymous)', where: where(f), us: 0 };
      ie.us += us;
      inclusiveOwn.set(k, ie);
    }
  }
  const idle = byOrigin.idle ?? 0;
  const busyUs = totalUs - idle;
  const ms = (us: number) => Math.round(us / 100) / 10;
  const pct = (us: number) => Math.round((1000 * us) / Math.max(1, busyUs)) / 10;
  const list = (m: Map<string, { fn: string; where: string; us: number }>) =>
    [...m.values()]
      .filter((e) => e.fn !== '(idle)')
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((e) => ({ fn: e.fn, where: e.where, ms: ms(e.us), pct: pct(e.us) }));
  return {
    file,
    totalMs: ms(totalUs),
    busyMs: ms(busyUs),
    byOrigin: Object.fromEntries(
      Object.entries(byOrigin)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => [k, ms(v)]),
    ),
    topSelf: list(selfByFn),
    topInclusiveOwn: list(inclusiveOwn),
  };
}

if (require.main === module) {
  const [file, n] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node dist-bench/bench/lib/profile.js <file.cpuprofile> [top]\n');
    process.exit(2);
  }
  const s = summarizeProfile(file, Number(n ?? 25));
  const out: string[] = [`${s.file}: ${s.busyMs} ms busy of ${s.totalMs} ms`, '', 'by origin (ms):'];
  for (const [k, v] of Object.entries(s.byOrigin)) out.push(`  ${String(v).padStart(9)}  ${k}`);
  out.push('', 'self time (% of busy):');
  for (const e of s.topSelf) out.push(`  ${String(e.pct).padStart(5)}%  ${String(e.ms).padStart(8)} ms  ${e.fn}  ${e.where}`);
  out.push('', 'inclusive time of orchestrator functions (% of busy):');
  for (const e of s.topInclusiveOwn) out.push(`  ${String(e.pct).padStart(5)}%  ${String(e.ms).padStart(8)} ms  ${e.fn}  ${e.where}`);
  process.stdout.write(out.join('\n') + '\n');
}
