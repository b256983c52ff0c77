import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** Body of POST /api/v1/results (OpenAPI only: result-input.ts reads and checks it). */
export class PostResultDto {
  @ApiProperty({ example: '3f2b9c1e-8a4d-4e2f-9b7a-1c2d3e4f5a6b', description: 'the task the result belongs to' }) task_id!: string;
  @ApiProperty({
    description: 'any JSON value; beyond 1 MiB (or 100 levels deep) it is kept whole as the file result.json of the task, the task record referencing it',
    example: { answers: ['4'] },
  })
  result!: unknown;
  @ApiPropertyOptional({ example: 'gpu-node-1', nullable: true, type: String, description: 'the worker that produced it' }) worker_id?: string | null;
  @ApiPropertyOptional({ example: { model: 'llama-3-8b', tokens: 1234 }, nullable: true, type: Object, description: 'a JSON object, at most 64 KiB' }) metadata?: Record<
    string,
    unknown
  > | null;
}

export class PostedResultDto {
  @ApiProperty({ example: true }) ok!: true;
  @ApiProperty() task_id!: string;
  @ApiProperty({ example: 'RUNNING', description: 'the task status; a posted result does not change it' }) status!: string;
  @ApiProperty({ enum: ['record', 'file'], description: '`file`: too large or deep for the task record; kept as RESULTS_DIR/<task>/result.json' }) stored!: 'record' | 'file';
  @ApiProperty({ example: 17, description: 'size of the result as JSON' }) bytes!: number;
  @ApiProperty({ example: '2026-01-01T00:00:00.000Z' }) updated_at!: string;
}

export class ResultDto {
  @ApiProperty() task_id!: string;
  @ApiProperty({ example: 'DONE' }) status!: string;
  @ApiProperty({ nullable: true, description: 'the posted or reported result (a sharded task: the aggregation of its shards); null when there is none yet' }) result!: unknown;
  @ApiProperty({ nullable: true, type: String, description: 'the worker that posted it, else the worker that ran the task' }) worker_id!: string | null;
  @ApiProperty({ nullable: true, type: Object }) metadata!: Record<string, unknown> | null;
  @ApiProperty({ nullable: true, type: String, description: 'when the result was last written; null when there is none' }) updated_at!: string | null;
}

export class ResultFileDto {
  @ApiProperty({ example: 'responses.jsonl' }) name!: string;
  @ApiProperty({ example: 1048576 }) bytes!: number;
  @ApiProperty({ example: '2026-01-01T00:00:00.000Z' }) modified_at!: string;
}
