import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiBadRequestResponse, ApiBody, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiAuth, ErrorBodyDto } from '../common/api-docs';
import { PRUNE_DEFAULT_LIMIT, PRUNE_MAX_LIMIT } from '../tasks/retention/retention.service';
import { AdminService } from './admin.service';

@ApiTags('admin')
@ApiAuth()
@Controller('admin')
export class AdminController {
  constructor(private readonly admin: AdminService) {}

  @Post('cleanup')
  @HttpCode(200)
  @ApiOperation({ summary: 'Remove stale workers now', description: 'Tasks they held go back to the queue, counted as a failed attempt.' })
  @ApiOkResponse({ schema: { example: { ok: true, removed: 1 } } })
  async cleanup(): Promise<{ ok: true; removed: number }> {
    const { removed } = await this.admin.cleanup();
    return { ok: true, removed };
  }

  @Post('prune')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Remove finished tasks that ended before a time',
    description:
      'Removes DONE, FAILED and CANCELLED tasks (or those of `status`, of `owner`) that finished before `before`, with everything they own, oldest submissions first; ' +
      `bounded per request: at most \`limit\` tasks (default ${PRUNE_DEFAULT_LIMIT}, max ${PRUNE_MAX_LIMIT}) and 50,000 records looked at. ` +
      'When it stopped before the end, the answer has a `cursor`: send it back to go on. A task an unfinished task depends on, or that its worker still holds, is skipped.',
  })
  @ApiBody({
    schema: {
      type: 'object',
      required: ['before'],
      properties: {
        before: { type: 'string', format: 'date-time' },
        status: { type: 'string', enum: ['DONE', 'FAILED', 'CANCELLED'] },
        owner: { type: 'string' },
        limit: { type: 'integer', minimum: 1, maximum: PRUNE_MAX_LIMIT },
        cursor: { type: 'string' },
      },
    },
  })
  @ApiOkResponse({ schema: { example: { ok: true, removed: 120, records: 128, cursor: null } } })
  @ApiBadRequestResponse({ description: 'A bad field; `field` names it', type: ErrorBodyDto })
  async prune(@Body() body: unknown): Promise<{ ok: true; removed: number; records: number; cursor: string | null }> {
    return { ok: true, ...(await this.admin.prune(body)) };
  }
}
