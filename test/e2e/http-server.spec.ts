import { IncomingMessage, ServerResponse } from 'node:http';
import { TestStack, taskYaml } from '../support/test-app';

/**
 * Express sets its prototypes on every request and response (Object.setPrototypeOf), which in V8
 * makes per-request hidden classes in the old generation and slows every young-generation GC
 * (src/common/express-adapter.ts). The server must create them with those prototypes already.
 */
describe('HTTP server: requests and responses are born with Express prototypes', () => {
  let s: TestStack;
  const changes: string[] = [];
  const original = Object.setPrototypeOf;
  beforeAll(async () => {
    s = await new TestStack().start();
    Object.setPrototypeOf = ((o: object, proto: object | null) => {
      if ((o instanceof IncomingMessage || o instanceof ServerResponse) && Object.getPrototypeOf(o) !== proto) changes.push(o.constructor?.name ?? '?');
      return original(o, proto);
    }) as typeof Object.setPrototypeOf;
  });
  afterAll(async () => {
    Object.setPrototypeOf = original;
    await s.stop();
  });

  it('no request or response changes prototype, and the routes still work', async () => {
    changes.length = 0;
    expect((await s.http().get('/healthz')).body).toEqual({ ok: true });
    const submitted = await s.submit(taskYaml({ name: 'proto' }));
    expect(submitted.status).toBe(200);
    const got = await s.http().get(`/api/v1/tasks/${submitted.body.tasks[0].task_id}`);
    expect(got.status).toBe(200);
    expect(got.body.name).toBe('proto');
    expect(got.headers['content-type']).toMatch(/^application\/json/);
    expect((await s.http().get('/api/v1/tasks/nope')).status).toBe(404);
    expect(changes).toEqual([]);
  });
});
