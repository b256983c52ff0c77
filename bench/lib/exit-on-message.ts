/**
 * Preloaded (`node --require`) into the orchestrator only when BENCH_CPU_PROF=1: the bench sends
 * 'bench:exit' over the IPC channel and the process exits normally, which is when --cpu-prof
 * writes its profile (a signal would end it without one).
 */
process.on('message', (m: unknown) => {
  if (m === 'bench:exit') process.exit(0);
});
// The channel must not keep the process alive on its own, nor be what ends it.
process.channel?.unref();
export {};
