import { Redis } from 'ioredis';
import { isoNow } from '../../src/contracts/protocol';
import { defineScripts, runScript, ScriptName } from '../../src/redis/scripts';
import { encodeNewTask, NewTask } from '../../src/redis/task-codec';
import { TestRedisServer } from '../support/redis-server';
import { TEST_DOC, TEST_PLACEMENT } from './task-fixtures';

/**
 * What the script specs share: a real redis-server with the scripts defined on a client, a
 * subscriber on the task topic (claim-dispatch voids a dispatch nobody hears), and the few steps
 * every such spec takes (a new task's fields as the submit path writes them, a registered worker,
 * a claim). Call it at the top of a `describe`: it adds the beforeAll and afterAll.
 */
export function useScriptHarness() {
  const server = new TestRedisServer();
  let client: Redis;
  let listener: Redis;
  beforeAll(async () => {
    await server.start();
    client = server.client();
    defineScripts(client);
    listener = server.client();
    await listener.subscribe('tasks');
  });
  afterAll(async () => {
    client.disconnect();
    listener.disconnect();
    await server.destroy();
  });
  const h = {
    /** The client with the scripts defined (set once beforeAll has run). */
    get r(): Redis {
      return client;
    },
    /** The subscriber on the task topic. */
    get listener(): Redis {
      return listener;
    },
    run: (name: ScriptName, ...args: (string | number)[]) => runScript(client, name, Date.now(), args),
    runAt: (name: ScriptName, nowMs: number, ...args: (string | number)[]) => runScript(client, name, nowMs, args),
    /** A new task's fields as the submit path writes them (the codec), with the test's overrides. */
    fields: (id: string, task: Partial<NewTask> = {}, extra: Record<string, string> = {}) => ({
      ...encodeNewTask({
        id,
        name: `task-${id}`,
        owner: 'o',
        kind: 'K',
        taskType: 'echo',
        topic: 'tasks',
        doc: TEST_DOC,
        placement: TEST_PLACEMENT,
        priority: 0,
        maxRetries: 0,
        backoffSec: 0,
        dependsOn: [],
        ...task,
      }),
      ...extra,
    }),
    /** A worker in the v1 registry: IDLE, heard just now (protocol 2: a v2 worker). */
    registerWorker: async (id: string, protocol: 1 | 2 = 1) => {
      await client.sadd('workers:ids', id);
      await client.hset(`worker:${id}`, { worker_id: id, status: 'IDLE', last_seen: isoNow(), ...(protocol === 2 ? { protocol: '2' } : {}) });
      await client.setex(`worker:${id}:hb`, 60, isoNow());
    },
    claim: (task: string, worker: string, ackDeadlineMs = Date.now() + 30_000, nowMs = Date.now()) =>
      runScript(client, 'claim-dispatch', nowMs, [task, worker, 'tasks', 'best-fit', 'test', new Date(nowMs - 60_000).toISOString(), ackDeadlineMs]),
  };
  return h;
}
