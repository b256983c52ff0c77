/**
 * Worker-thread entry of YamlThread: loads submissions on the `yaml` path (loadWithYaml) away from
 * the main event loop. One job at a time; the answer is the documents or the refusal's fields.
 */
import { parentPort } from 'node:worker_threads';
import { SpecError } from './task-draft';
import { loadWithYaml, ParseSubmissionOptions } from './yaml-slow-path';

export interface YamlJob {
  id: number;
  text: string;
  opts: ParseSubmissionOptions;
}

export type YamlAnswer = { id: number; ok: true; documents: unknown[] } | { id: number; ok: false; spec: boolean; path: string; message: string };

parentPort?.on('message', (job: YamlJob) => {
  let answer: YamlAnswer;
  try {
    answer = { id: job.id, ok: true, documents: loadWithYaml(job.text, job.opts) };
  } catch (err) {
    const spec = err instanceof SpecError;
    answer = { id: job.id, ok: false, spec, path: spec ? err.path : '', message: err instanceof Error ? err.message : String(err) };
  }
  parentPort!.postMessage(answer);
});
