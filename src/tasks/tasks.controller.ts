import { Body, Controller, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import {
  ApiBody,
  ApiConflictResponse,
  ApiConsumes,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiPayloadTooLargeResponse,
  ApiProduces,
  ApiQuery,
  ApiBadRequestResponse,
  ApiTags,
  ApiUnsupportedMediaTypeResponse,
} from '@nestjs/swagger';
import { ApiHeader, ApiUnprocessableEntityResponse } from '@nestjs/swagger';
import { checkIdempotencyKey, IDEMPOTENCY_HEADER, MAX_KEY_LENGTH, REPLAYED_HEADER } from './idempotency/idempotency';
import { IdempotentSubmissions } from './idempotency/idempotent-submissions';
import { SubmitQuery } from './dto/list-tasks.query';
import type { Request, Response } from 'express';
import { ApiAuth, ErrorBodyDto } from '../common/api-docs';
import { DomainError } from '../common/errors';
import { TASK_STATUSES } from '../contracts/task-states';
import { DEFAULT_LIST_LIMIT, ListTasksQuery, MAX_LIST_LIMIT } from './dto/list-tasks.query';
import { SubmissionDto, TaskDto } from './dto/task.dto';
import { TaskLogsDto } from './logs/task-logs.dto';
import { DEFAULT_LOG_TAIL, MAX_LOG_TAIL, TaskLogsQuery } from './logs/task-logs.query';
import { FOLLOW_HEARTBEAT_MS, TaskLogsService } from './logs/task-logs.service';
import { TaskResponse } from './task-record';
import { TasksService } from './tasks.service';

export const YAML_TYPES = ['text/yaml', 'application/x-yaml', 'application/yaml', 'text/x-yaml', 'text/plain'];

const EXAMPLE_YAML = `apiVersion: mloc/v1
kind: InferenceTask
metadata:
  name: hello-echo
  owner: me
spec:
  taskType: echo
  resources:
    replicas: 1
    hardware: {cpu: "1", memory: "512Mi"}
  data:
    prompts: ["What is 2+2?", "Name a prime number."]
`;

/** The YAML text of a submission: a text/yaml body, or JSON {"yaml": "..."}. */
function yamlText(body: unknown, contentType: string | undefined): string {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (YAML_TYPES.includes(type)) {
    if (typeof body !== 'string') throw new DomainError('invalid_request', 'Empty request body: expected a YAML task document');
    return body;
  }
  if (type === 'application/json') {
    const y = (body as { yaml?: unknown } | null)?.yaml;
    if (typeof y !== 'string') throw new DomainError('invalid_request', 'JSON body must be {"yaml": "<task document>"}', 'yaml');
    return y;
  }
  throw new DomainError('unsupported_media_type', `Unsupported Content-Type "${type || '(none)'}": send text/yaml (or application/x-yaml), or application/json {"yaml": "..."}`);
}

@ApiTags('tasks')
@ApiAuth()
@Controller('api/v1/tasks')
export class TasksController {
  constructor(
    private readonly tasks: TasksService,
    private readonly logs: TaskLogsService,
    private readonly idempotent: IdempotentSubmissions,
  ) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({
    summary: 'Submit a task document',
    description:
      'YAML (text/yaml or application/x-yaml), or JSON {"yaml": "..."}. Several documents separated by `---` are created together, all or none. ' +
      'Pipelines (spec.stages) and graphs (spec.graph.nodes) become one task per stage/node; the answer lists them in document order. ' +
      'Each task of the answer says `unschedulable` (why) when no registered worker could ever run it, waiting tasks included. ' +
      `With \`${IDEMPOTENCY_HEADER}\`, the same key and body within 24 h answer the first submission's answer (header \`${REPLAYED_HEADER}: true\`) and create nothing; another body is 422. ` +
      'With `dryRun=true`, nothing is created: the answer says where each task would go now (`outcome` dispatch, queue, wait or unschedulable; `strategy`, `reason`, `workers`).',
  })
  @ApiHeader({ name: IDEMPOTENCY_HEADER, required: false, description: `1-${MAX_KEY_LENGTH} printable ASCII characters; a retry with the same key and body creates nothing` })
  @ApiQuery({ name: 'dryRun', required: false, schema: { type: 'boolean', default: false } })
  @ApiUnprocessableEntityResponse({ description: `${IDEMPOTENCY_HEADER} already used with another body (\`idempotency_key_reused\`)`, type: ErrorBodyDto })
  @ApiConflictResponse({ description: `The first submission with this ${IDEMPOTENCY_HEADER} is still in progress`, type: ErrorBodyDto })
  @ApiConsumes('text/yaml', 'application/x-yaml', 'application/json')
  @ApiBody({
    required: true,
    schema: { type: 'string', example: EXAMPLE_YAML },
    examples: { echo: { summary: 'A small echo task', value: EXAMPLE_YAML } },
  })
  @ApiOkResponse({ type: SubmissionDto })
  @ApiBadRequestResponse({ description: 'Invalid document; `field` names the path. Nothing was created.', type: ErrorBodyDto })
  @ApiPayloadTooLargeResponse({
    description: 'Body larger than MAX_TASK_BYTES (`payload_too_large`), or more tasks than MAX_TASKS_PER_SUBMISSION (`too_many_tasks`)',
    type: ErrorBodyDto,
  })
  @ApiUnsupportedMediaTypeResponse({ description: 'Content-Type is not YAML or JSON', type: ErrorBodyDto })
  async submit(@Body() body: unknown, @Req() req: Request, @Res({ passthrough: true }) res: Response, @Query() query: SubmitQuery) {
    // Read from the request, not @Headers(): Swagger would list Content-Type as a required parameter.
    const text = yamlText(body, req.headers['content-type']);
    if (query.dryRun === 'true') return this.tasks.dryRun(text);
    const key = checkIdempotencyKey(req.headers['idempotency-key']);
    if (key === null) return this.tasks.submit(text);
    const answer = await this.idempotent.run(key, text, () => this.tasks.submit(text));
    if (answer.replayed) res.setHeader(REPLAYED_HEADER, 'true');
    res.status(answer.status);
    return answer.body;
  }

  @Get()
  @ApiOperation({
    summary: 'List tasks, newest first',
    description: `Filters combine. At most \`limit\` records (default ${DEFAULT_LIST_LIMIT}, max ${MAX_LIST_LIMIT}). When more may follow, the response carries an \`X-Next-Cursor\` header: pass its value as \`cursor\` to get the next page.`,
  })
  @ApiQuery({ name: 'status', required: false, enum: TASK_STATUSES })
  @ApiQuery({ name: 'owner', required: false, description: 'metadata.owner, exact' })
  @ApiQuery({ name: 'name', required: false, description: 'substring of the task name' })
  @ApiQuery({ name: 'limit', required: false, schema: { type: 'integer', minimum: 1, maximum: MAX_LIST_LIMIT, default: DEFAULT_LIST_LIMIT } })
  @ApiQuery({ name: 'cursor', required: false, description: 'X-Next-Cursor of the previous page' })
  @ApiQuery({
    name: 'include',
    required: false,
    enum: ['task'],
    description: 'task: the full records, documents included (`task`, `parsed`, `raw_yaml`, `result`); default: a summary per record without them',
  })
  @ApiQuery({ name: 'fields', required: false, description: 'comma-separated record fields to return (task_id always), e.g. task_id,status,parent_task_id' })
  @ApiOkResponse({ type: [TaskDto], headers: { 'X-Next-Cursor': { description: 'cursor of the next page; absent on the last page', schema: { type: 'string' } } } })
  @ApiBadRequestResponse({ description: 'Bad filter, limit or cursor, or one given twice; `field` names the parameter', type: ErrorBodyDto })
  async list(@Res({ passthrough: true }) res: Response, @Query() query: ListTasksQuery): Promise<Partial<TaskResponse>[]> {
    const page = await this.tasks.list(query);
    if (page.nextCursor !== null) res.setHeader('X-Next-Cursor', String(page.nextCursor));
    return page.tasks;
  }

  @Get(':id')
  @ApiOperation({ summary: 'One task record' })
  @ApiOkResponse({ type: TaskDto })
  @ApiNotFoundResponse({ description: 'No task with this id', type: ErrorBodyDto })
  get(@Param('id') id: string): Promise<TaskResponse> {
    return this.tasks.get(id);
  }

  @Get(':id/logs')
  @ApiOperation({
    summary: "A task's last log lines, or all of them as they come (Server-Sent Events)",
    description:
      "The lines our (v2) worker sent while the task ran: a command's stdout and stderr, an executor's progress lines; about the last 1000 are kept, each at most 4 KiB. " +
      'A task run by a v1 worker has none: `lines: []`, `supported: false` and a note. ' +
      `With \`follow=true\` the answer is \`text/event-stream\`: a \`line\` event per line (the last \`tail\` first), \`progress\` events, an \`info\` event when there will be no lines, a comment every ${FOLLOW_HEARTBEAT_MS / 1000} s, and a last \`end\` event \`{status}\` once the task is DONE, FAILED or CANCELLED.`,
  })
  @ApiQuery({ name: 'tail', required: false, schema: { type: 'integer', minimum: 1, maximum: MAX_LOG_TAIL, default: DEFAULT_LOG_TAIL } })
  @ApiQuery({ name: 'follow', required: false, schema: { type: 'boolean', default: false } })
  @ApiProduces('application/json', 'text/event-stream')
  @ApiOkResponse({ type: TaskLogsDto, description: 'JSON; with follow=true, text/event-stream (events line, progress, info, end)' })
  @ApiBadRequestResponse({ description: 'Bad tail or follow; `field` names the parameter', type: ErrorBodyDto })
  @ApiNotFoundResponse({ description: 'No task with this id', type: ErrorBodyDto })
  async taskLogs(@Param('id') id: string, @Query() query: TaskLogsQuery, @Req() req: Request, @Res() res: Response): Promise<void> {
    const tail = query.tail ? Number(query.tail) : DEFAULT_LOG_TAIL;
    if (query.follow === 'true') return this.logs.follow(id, tail, req, res);
    res.status(200).json(await this.logs.read(id, tail));
  }

  @Post(':id/retry')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Re-submit a FAILED or CANCELLED task as a new task',
    description:
      'Same document, no dependencies; the new record says `retry_of` (the old id), the old one `retried_by` (the new id). A task is retried once: retry the new one next time.',
  })
  @ApiOkResponse({ type: TaskDto, description: 'the new task' })
  @ApiNotFoundResponse({ description: 'No task with this id', type: ErrorBodyDto })
  @ApiConflictResponse({ description: 'The task is not FAILED or CANCELLED, is a shard, or was already retried', type: ErrorBodyDto })
  retry(@Param('id') id: string): Promise<TaskResponse> {
    return this.tasks.retry(id);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Cancel a task that has not finished',
    description:
      'Its downstream tasks end too; a sharded parent takes its shards with it; cancelling a shard cancels its parent. A worker that has the task is told to stop it when it speaks the durable protocol (v2); a v1 worker cannot be told: the ended attempt in `attempts` says which (`worker_told`).',
  })
  @ApiOkResponse({ type: TaskDto })
  @ApiNotFoundResponse({ description: 'No task with this id', type: ErrorBodyDto })
  @ApiConflictResponse({ description: 'The task already finished (DONE, FAILED or CANCELLED)', type: ErrorBodyDto })
  cancel(@Param('id') id: string): Promise<TaskResponse> {
    return this.tasks.cancel(id);
  }
}
