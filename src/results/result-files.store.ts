import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import type { Request } from 'express';
import { randomUUID } from 'node:crypto';
import { createWriteStream, type ReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DomainError } from '../common/errors';
import { APP_CONFIG } from '../config/config.module';
import type { AppConfig } from '../config/env';
import { isTaskId } from '../contracts/ids';
import { checkFileName } from './result-input';

/** One stored file of a task, as the listing shows it. */
export interface ResultFileInfo {
  name: string;
  bytes: number;
  modified_at: string;
}

/** An upload received into RESULTS_DIR/.partial, not yet in its task's folder. */
export interface ReceivedFile {
  /** The multipart field name and the client's file name (checked). */
  fieldname: string;
  originalname: string;
  path: string;
  size: number;
}

/** What multer hands a storage engine for each file part (multer 2; no @types/multer here). */
interface MulterFilePart {
  fieldname: string;
  originalname: string;
  stream: Readable;
}

/** multer's storage engine contract (https://github.com/expressjs/multer/blob/main/StorageEngine.md). */
export interface MulterStorageEngine {
  _handleFile(req: Request, file: MulterFilePart, cb: (err: unknown, info?: Partial<ReceivedFile>) => void): void;
  _removeFile(req: Request, file: ReceivedFile, cb: (err: Error | null) => void): void;
}

/** Upload temp files untouched this long belong to no live upload (a crash left them). */
const STALE_PARTIAL_MS = 60 * 60 * 1000;

/**
 * Files of task results on disk: RESULTS_DIR/<task id>/<name> (a local disk or a shared NFS mount,
 * docs/results.md). Uploads stream into RESULTS_DIR/.partial/<random> and are renamed into their
 * task's folder once complete (the same filesystem, so the rename is atomic: a reader sees the old
 * file or the whole new one, never half). Nothing holds a whole file in memory.
 */
@Injectable()
export class ResultFilesStore implements OnModuleInit {
  private readonly log = new Logger('ResultFiles');
  readonly root: string;
  private readonly partialDir: string;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {
    this.root = resolve(config.resultsDir);
    this.partialDir = join(this.root, '.partial');
  }

  /**
   * Removes what crashed uploads left behind. RESULTS_DIR itself is created by the first write, so
   * an orchestrator that never stores a file needs none (and one that cannot write there still runs).
   */
  async onModuleInit(): Promise<void> {
    const cutoff = Date.now() - STALE_PARTIAL_MS;
    for (const name of await readdir(this.partialDir).catch(() => [] as string[])) {
      const p = join(this.partialDir, name);
      const s = await stat(p).catch(() => null);
      if (s && s.mtimeMs < cutoff) await rm(p, { force: true, recursive: true }).catch(() => undefined);
    }
  }

  /** The folder of a task. Only task ids name folders: nothing else can reach a path here. */
  private taskDir(taskId: string): string {
    if (!isTaskId(taskId)) throw new DomainError('not_found', 'Task not found');
    return join(this.root, taskId);
  }

  /** The multer storage engine of uploads: checks the name, streams to a temp file, enforces MAX_RESULT_FILE_BYTES. */
  multerStorage(): MulterStorageEngine {
    return {
      _handleFile: (_req, file, cb) => {
        this.receive(file).then(
          (info) => cb(null, info),
          (err: unknown) => cb(err),
        );
      },
      _removeFile: (_req, file, cb) => {
        this.discard(file).then(
          () => cb(null),
          (err: Error) => cb(err),
        );
      },
    };
  }

  private async receive(file: MulterFilePart): Promise<Partial<ReceivedFile>> {
    try {
      checkFileName(file.originalname, 'file');
    } catch (err) {
      file.stream.resume();
      throw err;
    }
    const max = this.config.maxResultFileBytes;
    const path = join(this.partialDir, randomUUID());
    let size = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _enc, next) {
        size += chunk.length;
        if (size > max) next(new DomainError('payload_too_large', `File is larger than MAX_RESULT_FILE_BYTES (${max} bytes); nothing was stored`, 'file'));
        else next(null, chunk);
      },
    });
    try {
      await mkdir(this.partialDir, { recursive: true });
      await pipeline(file.stream, limit, createWriteStream(path, { flags: 'wx' }));
    } catch (err) {
      await unlink(path).catch(() => undefined);
      // The rest of the part is read and dropped (multer drains the request), so the client gets the answer.
      file.stream.resume();
      throw diskError(err);
    }
    return { path, size };
  }

  /** Removes a received upload that will not be kept. */
  async discard(file: ReceivedFile): Promise<void> {
    await unlink(file.path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /** Moves a received upload into its task's folder under its name, replacing a file of that name. */
  async commit(taskId: string, file: ReceivedFile): Promise<ResultFileInfo> {
    const dir = this.taskDir(taskId);
    const name = checkFileName(file.originalname, 'file');
    try {
      await mkdir(dir, { recursive: true });
      await rename(file.path, join(dir, name));
    } catch (err) {
      await unlink(file.path).catch(() => undefined);
      const code = (err as NodeJS.ErrnoException).code;
      // A worker sharing RESULTS_DIR may have made a folder of that name.
      if (code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST')
        throw new DomainError('conflict', `Task ${taskId} has a folder named ${JSON.stringify(name)}; nothing was stored`, 'file');
      throw diskError(err);
    }
    return this.info(dir, name);
  }

  /** Writes `text` as RESULTS_DIR/<task>/<name> atomically (temp file, then rename). */
  async writeText(taskId: string, name: string, text: string): Promise<ResultFileInfo> {
    const dir = this.taskDir(taskId);
    checkFileName(name, 'name');
    const tmp = join(this.partialDir, randomUUID());
    try {
      await mkdir(this.partialDir, { recursive: true });
      const fh = await open(tmp, 'wx');
      try {
        await fh.writeFile(text);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await mkdir(dir, { recursive: true });
      await rename(tmp, join(dir, name));
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw diskError(err);
    }
    return this.info(dir, name);
  }

  /** The task's files, by name; none when it has no folder. */
  async list(taskId: string): Promise<ResultFileInfo[]> {
    const dir = this.taskDir(taskId);
    const entries = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    const files = entries.filter((e) => e.isFile()).map((e) => e.name);
    const infos = await Promise.all(files.sort().map((n) => this.info(dir, n).catch(() => null)));
    return infos.filter((i): i is ResultFileInfo => i !== null);
  }

  /** An open stream of one file with its size; 404 when there is no such file. */
  async open(taskId: string, name: string): Promise<{ info: ResultFileInfo; stream: ReadStream }> {
    const dir = this.taskDir(taskId);
    checkFileName(name, 'name');
    const path = join(dir, name);
    const fh = await open(path, 'r').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'EISDIR') return null;
      throw err;
    });
    if (!fh) throw new DomainError('not_found', `Task ${taskId} has no file ${JSON.stringify(name)}`);
    const s = await fh.stat();
    if (!s.isFile()) {
      await fh.close();
      throw new DomainError('not_found', `Task ${taskId} has no file ${JSON.stringify(name)}`);
    }
    // The stream reads the file that was opened, even if an upload replaces it meanwhile.
    return { info: { name, bytes: s.size, modified_at: s.mtime.toISOString() }, stream: fh.createReadStream() };
  }

  /** Removes everything stored for a task (its folder); for retention. Idempotent. */
  async remove(taskId: string): Promise<void> {
    await rm(this.taskDir(taskId), { recursive: true, force: true });
    this.log.debug('removed result files', { taskId });
  }

  private async info(dir: string, name: string): Promise<ResultFileInfo> {
    const s = await stat(join(dir, name));
    return { name, bytes: s.size, modified_at: s.mtime.toISOString() };
  }
}

/** A full disk (or quota) is a 503 that says so, like a full Redis; other errors stay as they are. */
function diskError(err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new DomainError('storage_full', 'RESULTS_DIR is full: nothing was stored. Try again once space is freed.');
  return err;
}
