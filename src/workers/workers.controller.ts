import { Controller, Get, Param } from '@nestjs/common';
import { ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { ApiAuth, ErrorBodyDto } from '../common/api-docs';
import { WorkerResponse } from './worker-record';
import { WorkersService } from './workers.service';

class WorkerDto implements WorkerResponse {
  @ApiProperty({ example: 'gpu-node-1' }) worker_id!: string;
  @ApiProperty({ example: 'IDLE', description: 'STARTING, IDLE, RUNNING (others possible)' }) status!: string;
  @ApiProperty({ nullable: true, example: '2026-11-28T20:01:02.123456+00:00' }) last_seen!: string | null;
  @ApiProperty({ nullable: true }) started_at!: string | null;
  @ApiProperty({ nullable: true, example: 4242 }) pid!: number | null;
  @ApiProperty({ description: 'env_json, parsed', type: 'object', additionalProperties: true, nullable: true }) env!: unknown;
  @ApiProperty({ description: 'hardware_json, parsed (PROTOCOL section 1)', type: 'object', additionalProperties: true, nullable: true }) hardware!: unknown;
  @ApiProperty({ description: 'tags_json, parsed', type: [String] }) tags!: unknown;
  @ApiProperty({ description: 'heartbeat key gone or last_seen older than HEARTBEAT_TTL_SEC' }) stale!: boolean;
  @ApiProperty({ description: 'extra_* fields (task_id, last_task)', type: 'object', additionalProperties: { type: 'string' } }) extra!: Record<string, string>;
  @ApiPropertyOptional({ nullable: true, description: 'the task the orchestrator has dispatched to this worker' }) current_task!: string | null;
}

@ApiTags('workers')
@ApiAuth()
@Controller('workers')
export class WorkersController {
  constructor(private readonly workers: WorkersService) {}

  @Get()
  @ApiOperation({ summary: 'List registered workers' })
  @ApiOkResponse({ type: [WorkerDto] })
  list(): Promise<WorkerResponse[]> {
    return this.workers.list();
  }

  @Get(':id')
  @ApiOperation({ summary: 'One worker' })
  @ApiOkResponse({ type: WorkerDto })
  @ApiNotFoundResponse({ description: 'No worker with this id', type: ErrorBodyDto })
  get(@Param('id') id: string): Promise<WorkerResponse> {
    return this.workers.get(id);
  }
}
