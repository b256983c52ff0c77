import fc from 'fast-check';
import { Redis } from 'ioredis';
import { Keys } from '../../src/redis/keys';
import { CPU_HW } from '../support/fake-worker';
import { TestStack, taskYaml } from '../support/test-app';

/** Issue 13: a client that times out and retries with its Idempotency-Key does not run a job twice. */
describe('Idempotency-Key on POST /api/v1/tasks', () => {
  let s: TestStack;
  let r: Redis;
  beforeEach(async () => {
    s = await new TestStack().start();
    r = s.redis.client();
  });
  afterEach(async () => {
    await r.quit();
    await s.stop();
  });

  const submit = (yaml: string, key?: string) => {
    const req = s.http().post('/api/v1/tasks').set(s.authHeader()).set('Content-Type', 'text/yaml');
    return (key === undefined ? req : req.set('Idempotency-Key', key)).send(yaml);
  };
  const taskCount = () => r.zcard(Keys.allTasks);

  it('the same key and body answer the first answer and create nothing; another body is 422', async () => {
    await s.worker({ id: 'w', hardware: CPU_HW(8, 32), behaviour: 'hold' });
    const first = await submit(taskYaml({ name: 'train' }), 'key-1').expect(200);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(first.body.tasks[0]).toMatchObject({ status: 'DISPATCHED', assigned_worker: 'w' });
    const again = await submit(taskYaml({ name: 'train' }), 'key-1').expect(200);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.body).toEqual(first.body);
    expect(await taskCount()).toBe(1);

    const other = await submit(taskYaml({ name: 'other' }), 'key-1').expect(422);
    expect(other.body).toMatchObject({ statusCode: 422, code: 'idempotency_key_reused', field: 'Idempotency-Key' });
    expect(other.body.requestId).toEqual(expect.any(String));
    expect(await taskCount()).toBe(1);

    // Another key is another submission; no key at all is the plain path.
    await submit(taskYaml({ name: 'train' }), 'key-2').expect(200);
    await submit(taskYaml({ name: 'train' })).expect(200);
    await submit(taskYaml({ name: 'train' })).expect(200);
    expect(await taskCount()).toBe(4);
    // Stored hashed, with a TTL of at most 24 h.
    const keys = await r.keys('mloc:idem:*');
    expect(keys).toHaveLength(2);
    for (const k of keys) {
      expect(k).toMatch(/^mloc:idem:[0-9a-f]{64}$/);
      const ttl = await r.pttl(k);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(24 * 3600 * 1000);
    }
  });

  it('two identical requests sent at once create one task, and both get its answer', async () => {
    const yaml = taskYaml({ name: 'race' });
    for (let round = 0; round < 5; round++) {
      const key = `race-${round}`;
      const answers = await Promise.all([submit(yaml, key), submit(yaml, key), submit(yaml, key)]);
      for (const a of answers) expect(a.status).toBe(200);
      const ids = new Set(answers.map((a) => a.body.tasks[0].task_id));
      expect(ids.size).toBe(1);
      expect(answers.filter((a) => a.headers['idempotent-replayed'] === 'true')).toHaveLength(2);
      expect(await taskCount()).toBe(round + 1);
    }
  });

  it('a refused submission creates nothing and frees its key: the corrected body may use it', async () => {
    const bad = await submit(taskYaml({ cpu: 'lots' }), 'k').expect(400);
    expect(bad.body.code).toBe('invalid_task');
    expect(await r.keys('mloc:idem:*')).toEqual([]);
    await submit(taskYaml(), 'k').expect(200);
    expect(await taskCount()).toBe(1);
  });

  it('refuses a malformed key with 400 naming the header, whatever it is (generated), and creates nothing', async () => {
    const badKey = fc.oneof(
      fc.constant(''),
      fc.string({ minLength: 256, maxLength: 400, unit: fc.constantFrom('a', 'Z', '0', '-') }),
      // At least one character outside printable ASCII (node refuses some of them itself: then no request is sent).
      fc.tuple(fc.string({ maxLength: 20 }), fc.integer({ min: 0x80, max: 0xff }), fc.string({ maxLength: 20 })).map(([a, c, b]) => `${a}${String.fromCharCode(c)}${b}`),
      // Inside the value: HTTP itself strips leading and trailing blanks.
      fc.tuple(fc.string({ maxLength: 10 }), fc.constantFrom('\t', '\x7f', '\x01')).map(([a, c]) => `k${a}${c}x`),
    );
    await fc.assert(
      fc.asyncProperty(badKey, async (key) => {
        let res;
        try {
          res = await submit(taskYaml(), key);
        } catch {
          return; // the HTTP client itself refused the header value
        }
        // An empty header may be dropped on the way: then it is the plain path.
        if (key === '' && res.status === 200) return;
        expect(res.status).toBe(400);
        expect(res.body).toMatchObject({ code: 'invalid_request', field: 'Idempotency-Key' });
      }),
      { numRuns: 60 },
    );
    expect(await r.keys('mloc:idem:*')).toEqual([]);
    // Good keys: any printable ASCII up to 255 characters.
    await submit(taskYaml(), ' ~!"#$%&\'()*+,-./09:;<=>?@AZ[\\]^_`az{|}').expect(200);
    await submit(taskYaml(), 'k'.repeat(255)).expect(200);
  });
});
