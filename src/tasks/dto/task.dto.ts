import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { TASK_STATUSES, TaskStatus } from '../../contracts/task-states';
import type { AttemptRecord, SubmittedTask, TaskResponse } from '../task-record';
import type { TaskProgress } from '../../contracts/task-logs';
import { TaskProgressDto } from '../logs/task-logs.dto';

/** OpenAPI shapes of the task routes (the types in task-record.ts are the source of truth). */
export class SubmittedTaskDto implements SubmittedTask {
  @ApiProperty({ example: '7f9c2a0e-…' }) task_id!: string;
  @ApiProperty({ example: 'draft-refine-format:draft' }) name!: string;
  @ApiProperty({ enum: TASK_STATUSES }) status!: TaskStatus;
  @ApiProperty({ nullable: true, example: 'gpu-node-1' }) assigned_worker!: string | null;
  @ApiProperty({ example: 'tasks' }) topic!: string;
  @ApiProperty({ type: [String], description: 'ids of unfinished dependencies' }) waiting_on!: string[];
  @ApiProperty() retries!: number;
  @ApiProperty() max_retries!: number;
  @ApiProperty({ nullable: true, description: 'why no registered worker could ever run it (waiting tasks too); null when one could. Said by the leader (null on a follower)' })
  unschedulable!: string | null;
}

export class SubmissionDto {
  @ApiProperty({ example: true }) ok!: true;
  @ApiProperty({ example: 3 }) count!: number;
  @ApiProperty({ type: [SubmittedTaskDto] }) tasks!: SubmittedTask[];
}

export class AttemptDto implements AttemptRecord {
  @ApiProperty() attempt!: number;
  @ApiProperty() worker!: string;
  @ApiProperty({ enum: ['succeeded', 'failed', 'cancelled'] }) outcome!: 'succeeded' | 'failed' | 'cancelled';
  @ApiPropertyOptional() error?: string;
  @ApiPropertyOptional({ description: 'the attempt was given up while its worker had it: whether that worker was told to stop it (v2 workers are; v1 workers cannot be)' })
  worker_told?: boolean;
  @ApiProperty() ended_at!: string;
}

export class TaskDto implements TaskResponse {
  @ApiProperty() task_id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ nullable: true }) owner!: string | null;
  @ApiProperty() kind!: string;
  @ApiProperty() task_type!: string;
  @ApiProperty({ enum: TASK_STATUSES }) status!: TaskStatus;
  @ApiProperty({ nullable: true, description: 'worker id, MULTI for a sharded parent' }) assigned_worker!: string | null;
  @ApiProperty() topic!: string;
  @ApiProperty() priority!: number;
  @ApiProperty() submitted_at!: string;
  @ApiProperty({ nullable: true }) updated_at!: string | null;
  @ApiProperty({ nullable: true }) dispatched_at!: string | null;
  @ApiProperty({ nullable: true }) started_at!: string | null;
  @ApiProperty({ nullable: true }) finished_at!: string | null;
  @ApiProperty({ nullable: true }) error!: string | null;
  @ApiProperty() retries!: number;
  @ApiProperty() max_retries!: number;
  @ApiProperty({ description: 'current attempt number (1 = first dispatch)' }) attempt!: number;
  @ApiProperty({ type: [AttemptDto] }) attempts!: AttemptRecord[];
  @ApiProperty({ type: [String] }) depends_on!: string[];
  @ApiProperty({ type: [String] }) waiting_on!: string[];
  @ApiProperty({ nullable: true, enum: ['best-fit', 'first-fit', 'data-parallel'] }) strategy!: string | null;
  @ApiProperty({ nullable: true, description: 'why this strategy' }) reason!: string | null;
  @ApiProperty({ nullable: true, description: 'set while no registered worker could ever run the task' }) unschedulable!: string | null;
  @ApiProperty({ nullable: true }) parent_id!: string | null;
  @ApiProperty({ nullable: true, description: "dd27001's name of parent_id (same value)" }) parent_task_id!: string | null;
  @ApiProperty({ nullable: true, description: 'the task this one re-submits (POST /api/v1/tasks/{id}/retry)' }) retry_of!: string | null;
  @ApiProperty({ nullable: true, description: 'the task that re-submitted this one' }) retried_by!: string | null;
  @ApiProperty({
    nullable: true,
    description:
      'the YAML text of the document as submitted (a stage or graph node: its pipeline document; a multi-document submission: that document); null when the document holds a secret. Not in list summaries',
  })
  raw_yaml!: string | null;
  @ApiProperty({ nullable: true }) shard_index!: number | null;
  @ApiProperty({ nullable: true }) shard_total!: number | null;
  @ApiProperty({ nullable: true, type: [String] }) children!: string[] | null;
  @ApiProperty({ nullable: true }) shards_done!: number | null;
  @ApiProperty({ nullable: true, type: TaskProgressDto, description: "what our (v2) worker last reported; a sharded parent: the sum of its shards'" })
  progress!: TaskProgress | null;
  @ApiProperty({ nullable: true, description: 'worker result; for a sharded parent {shards, merged}', type: 'object', additionalProperties: true }) result!: unknown;
  @ApiProperty({ description: 'the effective task document (secrets masked). Not in list summaries', type: 'object', additionalProperties: true }) task!: Record<string, unknown>;
  @ApiProperty({ description: "dd27001's name of `task`: the parsed document. Not in list summaries", type: 'object', additionalProperties: true }) parsed!: Record<
    string,
    unknown
  >;
}
