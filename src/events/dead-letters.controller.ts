import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { IsOptional, Matches } from 'class-validator';
import { ApiAuth } from '../common/api-docs';
import { DeadLetter, DeadLetters, DEAD_LETTER_MAXLEN } from './dead-letters.service';

export class DeadLettersQuery {
  @ApiPropertyOptional({ description: 'How many of the newest entries (1-1000, default 100)', example: '100' })
  @IsOptional()
  @Matches(/^([1-9]\d{0,2}|1000)$/, { message: 'count: expected an integer from 1 to 1000' })
  count?: string;
}

@ApiTags('admin')
@ApiAuth()
@Controller('admin')
export class DeadLettersController {
  constructor(private readonly deadLetters: DeadLetters) {}

  @Get('dead-letters')
  @ApiOperation({
    summary: 'Worker events that could not be applied',
    description: `Newest first, with the reason each was set aside (an unknown task id, malformed JSON, an error while applying). The stream keeps about ${DEAD_LETTER_MAXLEN} entries; each keeps the first 16 KiB of the event.`,
  })
  @ApiOkResponse({
    schema: {
      example: {
        total: 1,
        entries: [
          {
            id: '1733500000000-0',
            ts: '2026-12-06T12:00:00.000Z',
            source: 'stream',
            reason: 'TASK_SUCCEEDED names no task of ours (task_id of 45 characters)',
            entry_id: '1733499999000-0',
            bytes: 120,
            event: '{"type":"TASK_SUCCEEDED",...}',
          },
        ],
      },
    },
  })
  async list(@Query() q: DeadLettersQuery): Promise<{ total: number; entries: DeadLetter[] }> {
    const [total, entries] = await Promise.all([this.deadLetters.total(), this.deadLetters.list(q.count ? Number(q.count) : 100)]);
    return { total, entries };
  }
}
