import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBadRequestResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { IsBoolean } from 'class-validator';
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
  @ApiProperty({ description: 'drained (POST /workers/{id}/drain): gets no new task until undrained; `status` stays what the worker says' }) draining!: boolean;
  @ApiProperty({ description: 'extra_* fields (task_id, last_task)', type: 'object', additionalProperties: { type: 'string' } }) extra!: Record<string, string>;
  @ApiPropertyOptional({ nullable: true, description: 'the task the orchestrator has dispatched to this worker' }) current_task!: string | null;
}

/** Body of POST /workers/{id}/elastic (the later MLOC's name for drain/undrain). */
class ElasticDto {
  @ApiProperty({ description: 'false drains the worker (no new tasks), true undrains it' })
  @IsBoolean({ message: 'enabled: expected true or false' })
  enabled!: boolean;
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

  @Post(':id/drain')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Drain a worker',
    description:
      'It gets no new task; the one it runs finishes. Shown as `draining: true`; `status` stays what the worker says. Idempotent; survives a restart of the orchestrator (and of the worker).',
  })
  @ApiOkResponse({ type: WorkerDto })
  @ApiNotFoundResponse({ description: 'No worker with this id', type: ErrorBodyDto })
  drain(@Param('id') id: string): Promise<WorkerResponse> {
    return this.workers.setDraining(id, true);
  }

  @Post(':id/undrain')
  @HttpCode(200)
  @ApiOperation({ summary: 'Undrain a worker', description: 'It may get tasks again. Idempotent.' })
  @ApiOkResponse({ type: WorkerDto })
  @ApiNotFoundResponse({ description: 'No worker with this id', type: ErrorBodyDto })
  undrain(@Param('id') id: string): Promise<WorkerResponse> {
    return this.workers.setDraining(id, false);
  }

  @Post(':id/elastic')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Drain or undrain a worker (alias)',
    description: 'The later MLOC\'s route: `{"enabled": false}` is POST /workers/{id}/drain, `{"enabled": true}` is /undrain.',
  })
  @ApiOkResponse({ type: WorkerDto })
  @ApiBadRequestResponse({ description: '`enabled` missing or not a boolean', type: ErrorBodyDto })
  @ApiNotFoundResponse({ description: 'No worker with this id', type: ErrorBodyDto })
  elastic(@Param('id') id: string, @Body() body: ElasticDto): Promise<WorkerResponse> {
    return this.workers.setDraining(id, !body.enabled);
  }
}
