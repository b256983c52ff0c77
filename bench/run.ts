/**
 * The benchmark runner: `npm run bench` (every scenario at full size) or `npm run bench -- --quick`
 * (each scaled down, under a minute). Options: `--only=id,id` runs some scenarios, `--list` lists
 * them. Environment: REDIS_URL uses that Redis instead of starting one (nothing is flushed);
 * BENCH_CPU_PROF=1 runs the orchestrator under --cpu-prof and summarises the profiles;
 * BENCH_KEEP_TMP=1 keeps logs in bench/tmp/ even when everything went well.
 *
 * Prints a table and writes bench/results/<date>.json (quick runs: <date>.quick.json). Exits 0
 * whatever the figures; 1 when something is broken (a scenario failed, a task was lost or
 * dispatched twice, a submission was refused).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { calibrate, cpuTimes, stolenShare } from './lib/calibrate';
import { redisServerBinary } from './lib/redis';
import { stopAll } from './lib/proc';
import { Context } from './lib/stack';
import { Row, SCENARIOS, ScenarioResult } from './scenarios';

const root = resolve(__dirname, '..', '..');

function parseArgs(argv: string[]) {
  const out = { quick: false, only: null as string[] | null, list: false };
  for (const a of argv) {
    if (a === '--quick') out.quick = true;
    else if (a === '--list') out.list = true;
    else if (a.startsWith('--only=')) out.only = a.slice('--only='.length).split(',').filter(Boolean);
    else throw new Error(`unknown argument ${a} (expected --quick, --only=a,b, --list)`);
  }
  return out;
}

async function machine(redisUrl: string | null) {
  let redisVersion = 'unknown';
  if (redisUrl) {
    const r = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await r.connect();
      redisVersion = /^redis_version:(\S+)/m.exec(await r.info('server'))?.[1] ?? 'unknown';
    } finally {
      r.disconnect();
    }
  } else {
    const v = spawnSync(redisServerBinary(), ['--version'], { encoding: 'utf8' }).stdout;
    redisVersion = /v=(\S+)/.exec(v)?.[1] ?? v.trim();
  }
  const git = (args: string[]) => spawnSync('git', args, { cwd: root, encoding: 'utf8' }).stdout.trim();
  return {
    cores: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    redis: redisVersion,
    kernel: release(),
    commit: git(['rev-parse', '--short', 'HEAD']) || null,
    srcModified: git(['status', '--porcelain', '--', 'src']) !== '',
  };
}

function table(results: ScenarioResult[]): string {
  const rows: string[][] = [['scenario', 'figure', 'value', 'target', 'met']];
  for (const r of results) {
    if (r.error) rows.push([r.id, 'ERROR', r.error.split('\n')[0].slice(0, 80), '', 'broken']);
    r.rows.forEach((x: Row, i) => rows.push([i === 0 ? r.id : '', x.figure, x.value, x.target, x.met === null ? '' : x.met ? 'yes' : 'NO']));
    for (const c of r.checks.filter((c) => !c.ok)) rows.push(['', `CHECK FAILED: ${c.name}`, c.detail?.slice(0, 80) ?? '', '', 'broken']);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => '| ' + r.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  return [line(rows[0]), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.slice(1).map(line)].join('\n');
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.list) {
    for (const s of SCENARIOS) process.stdout.write(`${s.id.padEnd(20)} ${s.title}\n`);
    return 0;
  }
  const chosen = args.only ? SCENARIOS.filter((s) => args.only!.includes(s.id)) : SCENARIOS;
  if (args.only && chosen.length !== args.only.length) throw new Error(`unknown scenario in --only (known: ${SCENARIOS.map((s) => s.id).join(', ')})`);
  const started = Date.now();
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  const runId = `bench${stamp.slice(9)}`;
  const tmp = join(root, 'bench', 'tmp', stamp);
  mkdirSync(tmp, { recursive: true });
  const ctx: Context = {
    root,
    tmp,
    quick: args.quick,
    cpuProfile: process.env.BENCH_CPU_PROF === '1',
    externalRedisUrl: process.env.REDIS_URL?.trim() || null,
    runId,
    log: (l) => process.stdout.write(`${l}\n`),
  };
  const m = await machine(ctx.externalRedisUrl);
  const speedAtStart = calibrate();
  const cpuAtStart = cpuTimes();
  ctx.log(
    `MLOC orchestrator bench (${args.quick ? 'quick' : 'full'}): ${m.cores} cores, ${m.cpuModel}, ${m.memoryGb} GB, Node ${m.node}, Redis ${m.redis}, commit ${m.commit}${m.srcModified ? ' (src/ modified)' : ''}`,
  );
  ctx.log(`machine speed: calibration ${speedAtStart} ms (lower is faster; compare runs by this ratio)`);
  if (ctx.externalRedisUrl) ctx.log(`using REDIS_URL (nothing is flushed; pub/sub is shared by every database of that server)`);
  const results: ScenarioResult[] = [];
  for (const s of chosen) {
    ctx.log(`\n▶ ${s.id}: ${s.title}`);
    const r = await s.run(ctx);
    results.push(r);
    for (const x of r.rows) ctx.log(`  ${x.figure}: ${x.value}${x.target ? `  [target ${x.target}: ${x.met ? 'met' : 'MISSED'}]` : ''}`);
    for (const c of r.checks.filter((c) => !c.ok)) ctx.log(`  CHECK FAILED ${c.name}: ${c.detail}`);
    if (r.error) ctx.log(`  ERROR ${r.error}`);
    ctx.log(`  (${r.durationSec} s)`);
  }
  const broken = results.filter((r) => r.error || r.checks.some((c) => !c.ok));
  const totalSec = Math.round((Date.now() - started) / 100) / 10;
  const stolen = stolenShare(cpuAtStart, cpuTimes());
  const speed = { calibrationMsAtStart: speedAtStart, calibrationMsAtEnd: calibrate(), cpuStolenShare: stolen === null ? null : Math.round(stolen * 10000) / 10000 };
  const out = {
    date: new Date().toISOString(),
    mode: args.quick ? 'quick' : 'full',
    machine: { ...m, speed },
    totalSec,
    summary: results.flatMap((r) => r.rows.filter((x) => x.target).map((x) => ({ scenario: r.id, figure: x.figure, value: x.value, target: x.target, met: x.met }))),
    scenarios: results,
  };
  const resultsDir = join(root, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${new Date().toISOString().slice(0, 10)}${args.quick ? '.quick' : ''}${args.only ? '.partial' : ''}.json`);
  writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
  ctx.log(`\n${table(results)}\n`);
  ctx.log(`machine: ${m.cores} cores (${m.cpuModel}), ${m.memoryGb} GB, Node ${m.node}, Redis ${m.redis}`);
  ctx.log(
    `machine speed: calibration ${speed.calibrationMsAtStart} ms at the start, ${speed.calibrationMsAtEnd} ms at the end; ` +
      `CPU stolen by the hypervisor during the run: ${speed.cpuStolenShare === null ? 'not reported' : `${(speed.cpuStolenShare * 100).toFixed(1)}%`}`,
  );
  ctx.log(`results: ${file}`);
  ctx.log(`total: ${totalSec} s`);
  if (broken.length) ctx.log(`BROKEN: ${broken.map((r) => r.id).join(', ')} (logs kept in ${tmp})`);
  if (!broken.length && !ctx.cpuProfile && process.env.BENCH_KEEP_TMP !== '1') rmSync(tmp, { recursive: true, force: true });
  else ctx.log(`logs${ctx.cpuProfile ? ' and CPU profiles' : ''}: ${tmp}`);
  return broken.length ? 1 : 0;
}

main()
  .then(async (code) => {
    await stopAll();
    process.exit(code);
  })
  .catch(async (err) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.stack : String(err)}\n`);
    await stopAll();
    process.exit(1);
  });
