import { Injectable, Logger } from '@nestjs/common';
import type { ReadStream } from 'node:fs';
import { DomainError } from '../common/errors';
import { isTaskId } from '../contracts/ids';
import { MULTI_WORKER } from '../contracts/task-states';
import { MAX_RESULT_BYTES, MAX_RESULT_DEPTH, nestingDepth, resultToStore } from '../contracts/stored-result';
import { ReceivedFile, ResultFileInfo, ResultFilesStore } from './result-files.store';
import { readResultPost, shown } from './result-input';
import { ResultsRepository } from './results.repository';

/** The name a posted result too large (or too deep) for the task record is written under in the task's folder. */
export const RESULT_FILE_NAME = 'result.json';

/** GET /api/v1/results/{id}. */
export interface ResultView {
  task_id: string;
  status: string;
  result: unknown;
  worker_id: string | null;
  metadata: Record<string, unknown> | null;
  updated_at: string | null;
}

/** The answer to POST /api/v1/results. */
export interface PostedResult {
  ok: true;
  task_id: string;
  status: string;
  /** `record`: in the task record; `file`: RESULTS_DIR/<task>/result.json, the record holding a reference. */
  stored: 'record' | 'file';
  bytes: number;
  updated_at: string;
}

/** What `result_meta` of the task record holds. */
interface ResultMeta {
  worker_id: string | null;
  metadata: Record<string, unknown> | null;
  posted_at: string;
}

/**
 * Task results and files over HTTP (docs/results.md). A result lives in the task record's
 * `result` field under the rule of worker reports (MAX_RESULT_BYTES, MAX_RESULT_DEPTH); a posted
 * result beyond it is written to RESULTS_DIR/<task>/result.json whole and the record references
 * it. Files live in RESULTS_DIR/<task>/ (ResultFilesStore).
 */
@Injectable()
export class ResultsService {
  private readonly log = new Logger('Results');

  constructor(
    private readonly repo: ResultsRepository,
    private readonly files: ResultFilesStore,
  ) {}

  async post(body: unknown): Promise<PostedResult> {
    const p = readResultPost(body);
    const id = p.taskId;
    if (!isTaskId(id)) throw taskNotFound(id);
    let text: string;
    try {
      text = JSON.stringify(p.result);
    } catch {
      throw new DomainError('invalid_request', 'result is nested too deeply to store', 'result');
    }
    const bytes = Buffer.byteLength(text);
    const toFile = bytes > MAX_RESULT_BYTES || (text.length > 2 * MAX_RESULT_DEPTH && nestingDepth(text) > MAX_RESULT_DEPTH);
    let stored = resultToStore(p.result);
    if (toFile) {
      // Not for a task that does not exist: nothing may be written for it.
      await this.requireTask(id);
      await this.files.writeText(id, RESULT_FILE_NAME, text);
      stored = JSON.stringify({
        truncated: true,
        original_bytes: bytes,
        file: RESULT_FILE_NAME,
        note: `the whole result is the file ${RESULT_FILE_NAME}: GET /api/v1/results/${id}/files/${RESULT_FILE_NAME}`,
      });
    }
    const postedAt = new Date().toISOString();
    const meta: ResultMeta = { worker_id: p.workerId, metadata: p.metadata, posted_at: postedAt };
    const status = await this.repo.store(id, stored, JSON.stringify(meta));
    if (status === 'not_found') throw taskNotFound(id);
    if (status === 'parent')
      throw new DomainError('conflict', `Task ${id} is sharded: its result is the aggregation of its shards' results; post each shard's result under the shard's id`, 'task_id');
    this.log.log('result stored', { taskId: id, workerId: p.workerId, bytes, stored: toFile ? 'file' : 'record' });
    return { ok: true, task_id: id, status, stored: toFile ? 'file' : 'record', bytes, updated_at: postedAt };
  }

  async get(id: string): Promise<ResultView> {
    const f = isTaskId(id) ? await this.repo.read(id) : null;
    if (!f) throw taskNotFound(id);
    const meta = parseJson(f.resultMeta) as Partial<ResultMeta> | null;
    const finishedAt = f.status === 'DONE' ? f.finishedAt : null;
    const written = [meta?.posted_at, finishedAt].filter((t): t is string => typeof t === 'string').sort();
    return {
      task_id: id,
      status: f.status,
      result: parseJson(f.result),
      worker_id: meta?.worker_id ?? (f.assignedWorker === MULTI_WORKER ? null : f.assignedWorker),
      metadata: meta?.metadata ?? null,
      updated_at: f.result === null ? null : (written.at(-1) ?? null),
    };
  }

  /** 404 unless `id` names a task. */
  async requireTask(id: string): Promise<void> {
    if (!isTaskId(id) || !(await this.repo.read(id))) throw taskNotFound(id);
  }

  /** Puts an upload into the task's folder; the task must still exist (it may have gone during the upload). */
  async storeFile(id: string, file: ReceivedFile | undefined): Promise<ResultFileInfo> {
    if (!file) throw new DomainError('invalid_request', 'multipart/form-data with the file in the field "file" is required', 'file');
    try {
      await this.requireTask(id);
    } catch (err) {
      await this.files.discard(file);
      throw err;
    }
    const info = await this.files.commit(id, file);
    this.log.log('result file stored', { taskId: id, name: info.name, bytes: info.bytes });
    return info;
  }

  async listFiles(id: string): Promise<ResultFileInfo[]> {
    await this.requireTask(id);
    return this.files.list(id);
  }

  async openFile(id: string, name: string): Promise<{ info: ResultFileInfo; stream: ReadStream }> {
    await this.requireTask(id);
    return this.files.open(id, name);
  }

  /**
   * Removes what the results API stored for a task outside its record (its folder in RESULTS_DIR);
   * the record's own `result` fields go with the record. For retention. Idempotent.
   */
  remove(taskId: string): Promise<void> {
    return this.files.remove(taskId);
  }
}

function parseJson(raw: string | null): unknown {
  if (raw === null) return null;
  try {
    return JSON.parse(raw);
  } catch {
    return null;
  }
}

function taskNotFound(id: string): DomainError {
  return new DomainError('not_found', `Task ${shown(id)} not found`);
}
