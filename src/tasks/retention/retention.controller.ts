import { Controller, Delete, HttpCode, Param, Query } from '@nestjs/common';
import { ApiConflictResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiQuery, ApiTags, ApiBadRequestResponse } from '@nestjs/swagger';
import { ApiAuth, ErrorBodyDto } from '../../common/api-docs';
import { DomainError } from '../../common/errors';
import { TaskRetentionService } from './retention.service';

/** DELETE /api/v1/tasks/{id} (the rest of the tasks routes: TasksController). */
@ApiTags('tasks')
@ApiAuth()
@Controller('api/v1/tasks')
export class TaskRemovalController {
  constructor(private readonly retention: TaskRetentionService) {}

  @Delete(':id')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Remove a finished task now',
    description:
      'A finished task (DONE, FAILED or CANCELLED) goes for good with everything it owns: its record, indexes, shards, dependency edges, logs and result files. ' +
      'A task others depend on is removed only with `cascade=true`, together with every task downstream of it, and only when all of them have finished. ' +
      'Finished tasks are also removed on their own once their retention is over (TASK_RETENTION_SEC, spec.retention.seconds).',
  })
  @ApiQuery({ name: 'cascade', required: false, schema: { type: 'boolean', default: false } })
  @ApiOkResponse({ schema: { example: { ok: true, task_id: '3f1c...', removed: ['3f1c...'] } } })
  @ApiBadRequestResponse({ description: 'cascade is not true or false', type: ErrorBodyDto })
  @ApiNotFoundResponse({ description: 'No task with this id', type: ErrorBodyDto })
  @ApiConflictResponse({
    description: 'Not finished, a shard, still held by its worker, or depended on (without cascade, or with an unfinished downstream task)',
    type: ErrorBodyDto,
  })
  async remove(@Param('id') id: string, @Query('cascade') cascade: unknown): Promise<{ ok: true; task_id: string; removed: string[] }> {
    if (cascade !== undefined && cascade !== 'true' && cascade !== 'false') throw new DomainError('invalid_request', 'cascade must be true or false', 'cascade');
    const { removed } = await this.retention.delete(id, cascade === 'true');
    return { ok: true, task_id: id, removed };
  }
}
