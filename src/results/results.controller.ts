import { Body, CallHandler, Controller, ExecutionContext, Get, HttpCode, Injectable, NestInterceptor, Param, Post, Req, Res, UseInterceptors } from '@nestjs/common';
import { FileInterceptor } from '@nestjs/platform-express';
import {
  ApiBadRequestResponse,
  ApiBody,
  ApiConflictResponse,
  ApiConsumes,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiPayloadTooLargeResponse,
  ApiProduces,
  ApiTags,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { pipeline } from 'node:stream/promises';
import { Observable } from 'rxjs';
import { ApiAuth, ErrorBodyDto } from '../common/api-docs';
import { PostedResultDto, PostResultDto, ResultDto, ResultFileDto } from './dto/result.dto';
import type { ReceivedFile, ResultFileInfo } from './result-files.store';
import { PostedResult, ResultsService, ResultView } from './results.service';

/** Answers 404 for an unknown task before multer reads a byte of the upload. */
@Injectable()
export class KnownTaskInterceptor implements NestInterceptor {
  constructor(private readonly results: ResultsService) {}

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    await this.results.requireTask(String(context.switchToHttp().getRequest<Request>().params.id));
    return next.handle();
  }
}

@ApiTags('results')
@ApiAuth()
@Controller('api/v1/results')
export class ResultsController {
  constructor(private readonly results: ResultsService) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({
    summary: "Store a task's result",
    description:
      'What a worker with `output.destination {type: http, url: <orchestrator>/api/v1/results}` posts. Any status: the task keeps its status; ' +
      'a TASK_SUCCEEDED without `result` then keeps this one, and a post after DONE replaces what GET returns. Up to 1 MiB (and 100 levels) it is kept in the task record; ' +
      'beyond, whole as the task file result.json, the record holding a reference. The body is bounded by MAX_TASK_BYTES.',
  })
  @ApiBody({ type: PostResultDto })
  @ApiOkResponse({ type: PostedResultDto })
  @ApiBadRequestResponse({ description: 'Not `{task_id, result, worker_id?, metadata?}`; `field` names the field', type: ErrorBodyDto })
  @ApiNotFoundResponse({ description: 'No task with this id (a malformed id included)', type: ErrorBodyDto })
  @ApiConflictResponse({ description: 'The task is a sharded parent: its result is the aggregation of its shards', type: ErrorBodyDto })
  @ApiPayloadTooLargeResponse({ description: 'Body larger than MAX_TASK_BYTES', type: ErrorBodyDto })
  post(@Body() body: unknown): Promise<PostedResult> {
    return this.results.post(body);
  }

  @Get(':id')
  @ApiOperation({ summary: "A task's result", description: 'For a sharded task, the aggregation of its shards once all are DONE. `result` is null while there is none.' })
  @ApiOkResponse({ type: ResultDto })
  @ApiNotFoundResponse({ description: 'No task with this id', type: ErrorBodyDto })
  get(@Param('id') id: string): Promise<ResultView> {
    return this.results.get(id);
  }

  @Post(':id/files')
  @HttpCode(200)
  @UseInterceptors(KnownTaskInterceptor, FileInterceptor('file'))
  @ApiOperation({
    summary: 'Store a result file of a task',
    description:
      'multipart/form-data, the file in the field `file`; its file name names it (no `/`, `\\`, `..`, control characters; at most 255 bytes). ' +
      'Streamed to disk (RESULTS_DIR/<task>/<name>) and put in place atomically once complete; a file of the same name is replaced.',
  })
  @ApiConsumes('multipart/form-data')
  @ApiBody({ schema: { type: 'object', required: ['file'], properties: { file: { type: 'string', format: 'binary' } } } })
  @ApiOkResponse({ type: ResultFileDto })
  @ApiBadRequestResponse({ description: 'No file in the field `file`, a bad file name, or a malformed multipart body', type: ErrorBodyDto })
  @ApiNotFoundResponse({ description: 'No task with this id', type: ErrorBodyDto })
  @ApiPayloadTooLargeResponse({ description: 'File larger than MAX_RESULT_FILE_BYTES; nothing was stored', type: ErrorBodyDto })
  upload(@Param('id') id: string, @Req() req: Request & { file?: ReceivedFile }): Promise<ResultFileInfo> {
    return this.results.storeFile(id, req.file);
  }

  @Get(':id/files')
  @ApiOperation({ summary: 'The result files of a task', description: 'By name; empty when it has none.' })
  @ApiOkResponse({ type: [ResultFileDto] })
  @ApiNotFoundResponse({ description: 'No task with this id', type: ErrorBodyDto })
  listFiles(@Param('id') id: string): Promise<ResultFileInfo[]> {
    return this.results.listFiles(id);
  }

  @Get(':id/files/:name')
  @ApiOperation({ summary: 'Download a result file', description: 'Streamed, with Content-Length and Content-Disposition: attachment.' })
  @ApiProduces('application/octet-stream')
  @ApiOkResponse({ schema: { type: 'string', format: 'binary' } })
  @ApiBadRequestResponse({ description: 'Not a valid file name', type: ErrorBodyDto })
  @ApiNotFoundResponse({ description: 'No task with this id, or no such file', type: ErrorBodyDto })
  async download(@Param('id') id: string, @Param('name') name: string, @Res() res: Response): Promise<void> {
    const { info, stream } = await this.results.openFile(id, name);
    res.status(200);
    res.attachment(info.name);
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Content-Length', String(info.bytes));
    res.setHeader('Last-Modified', new Date(info.modified_at).toUTCString());
    // A read error after the headers went out can only cut the response short (pipeline destroys it).
    await pipeline(stream, res).catch(() => undefined);
  }
}
