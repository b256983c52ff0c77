import { parseSubmission } from './parse-submission';
import { SpecError } from './task-draft';

// Upstream references at submission (TASK-SPEC section 2): which stages a task's spec names, and
// refusals of names that are not upstream of it, with the path of the string.

const head = (spec: string) => `apiVersion: mloc/v1
kind: Pipeline
metadata: {name: p}
spec:
  taskType: echo
  resources: {replicas: 1, hardware: {cpu: 1, memory: 1Gi}}
${spec}`;

function refusal(text: string): { path: string; message: string } {
  try {
    parseSubmission(text);
  } catch (err) {
    if (err instanceof SpecError) return { path: err.path, message: err.message };
    throw err;
  }
  throw new Error('not refused');
}

describe('upstream references at submission', () => {
  it('a stage that references the one before it records its upstream; others record nothing', () => {
    const drafts = parseSubmission(
      head(`  stages:
    - name: prev
      spec: {command: "echo \${HOME}"}
    - name: next
      spec: {value: "\${prev.result.x}", text: "n=\${prev.result.x}", id: "\${prev.task_id}"}
    - name: last
`),
    );
    expect(drafts.map((d) => d.upstream)).toEqual([undefined, { stages: { prev: 'd0/prev' }, direct: ['prev'] }, undefined]);
    // The stored document keeps the references as written: they are resolved at dispatch.
    expect(drafts[1].doc.spec.value).toBe('${prev.result.x}');
    expect(drafts[1].requirements.taskType).toBe('echo');
  });

  it('a graph node may name any stage upstream of it, not only its direct ones', () => {
    const drafts = parseSubmission(
      head(`  graph:
    nodes:
      - {name: a}
      - {name: b, dependsOn: [a]}
      - {name: c, dependsOn: [b], spec: {prompt: "\${a.result.text} and \${b.result}"}}
`),
    );
    expect(drafts.find((d) => d.key === 'd0/c')?.upstream).toEqual({ stages: { b: 'd0/b', a: 'd0/a' }, direct: ['b'] });
  });

  it.each([
    [
      'a stage name that is not upstream',
      head(`  stages:
    - name: prev
    - name: next
      spec: {input: {value: "\${unknown.result.x}"}}
`),
      'spec.stages[1].spec.input.value',
      'spec.stages[1].spec.input.value: ${unknown.result.x} names no stage upstream of this task (upstream stages: prev)',
    ],
    [
      'a later stage',
      head(`  stages:
    - name: first
      spec: {value: "\${second.task_id}"}
    - name: second
`),
      'spec.stages[0].spec.value',
      'spec.stages[0].spec.value: ${second.task_id} names no stage upstream of this task (this task has no upstream stage)',
    ],
    [
      'a task without stages',
      head('  value: ["${prev.result.x}"]\n'),
      'spec.value[0]',
      'spec.value[0]: ${prev.result.x} names no stage upstream of this task (this task has no upstream stage)',
    ],
  ])('refuses %s with the path of the string', (_, text, path, message) => {
    expect(refusal(text)).toEqual({ path, message });
  });
});
