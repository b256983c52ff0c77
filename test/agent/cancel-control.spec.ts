import fc from 'fast-check';
import type { ControlMessage, DispatchMessage } from '../../src/contracts/protocol';
import { GivenUpAttempts, givenUpError, parseControl } from '../../src/agent/control';

/**
 * The worker's reading of control messages (docs/protocol.md, "Control"): anything on the list that
 * is not a CANCEL naming a task and an integer attempt is dropped (never a crash), and the memory of
 * given-up attempts stays bounded.
 */
describe('control messages, worker side', () => {
  const cancel = (task_id: string, attempt: number): ControlMessage => ({ type: 'CANCEL', task_id, attempt, reason: 'cancelled by user', ts: '2026-12-06T20:00:00.000Z' });
  const dispatch = (task_id: string, attempt?: number): DispatchMessage => ({ task_id, task: {}, task_type: 'echo', assigned_worker: 'w', dispatched_at: '', attempt });

  it('reads a CANCEL as the orchestrator writes it (cjson), and the error it reports', () => {
    const m = parseControl('{"type":"CANCEL","task_id":"t-1","attempt":2,"reason":"cancelled by user","ts":"2026-12-06T20:00:00.000Z"}');
    expect(m).toEqual(cancel('t-1', 2));
    expect(givenUpError(m!).message).toBe('stopped: the orchestrator gave this attempt up (cancelled by user)');
  });

  it('generated junk (any text, any JSON value, near-misses) is null, never a throw', () => {
    const nearMiss = fc.record(
      {
        type: fc.constantFrom('CANCEL', 'cancel', 'STOP', 1, null),
        task_id: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
        attempt: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(null)),
        reason: fc.anything(),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          nearMiss.map((o) => JSON.stringify(o)),
        ),
        (raw) => {
          const m = parseControl(raw);
          if (m !== null) {
            expect(m.type).toBe('CANCEL');
            expect(typeof m.task_id === 'string' && m.task_id !== '').toBe(true);
            expect(Number.isInteger(m.attempt)).toBe(true);
            expect(typeof m.reason).toBe('string');
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('a message names exactly its attempt; the memory keeps the newest 256', () => {
    expect(GivenUpAttempts.names(cancel('t', 1), dispatch('t', 1))).toBe(true);
    expect(GivenUpAttempts.names(cancel('t', 1), dispatch('t', 2))).toBe(false);
    expect(GivenUpAttempts.names(cancel('t', 1), dispatch('u', 1))).toBe(false);
    const seen = new GivenUpAttempts();
    for (let i = 0; i < 300; i++) seen.add(cancel(`t-${i}`, 1));
    expect(seen.find(dispatch('t-299', 1))).toEqual(cancel('t-299', 1));
    expect(seen.find(dispatch('t-299', 2))).toBeUndefined();
    expect(seen.find(dispatch('t-44', 1))).toBeDefined();
    expect(seen.find(dispatch('t-43', 1))).toBeUndefined();
  });
});
