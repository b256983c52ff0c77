import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import type { LogLine, TaskProgress } from '../../contracts/task-logs';
import type { TaskLogs } from './task-logs.service';

/** OpenAPI shapes of GET /api/v1/tasks/{id}/logs and of the record's `progress` (contracts/task-logs.ts holds the types). */
export class TaskProgressDto implements TaskProgress {
  @ApiProperty({ example: 120 }) done!: number;
  @ApiProperty({ nullable: true, example: 400 }) total!: number | null;
  @ApiProperty({ nullable: true, example: 'inputs' }) unit!: string | null;
}

export class LogLineDto implements LogLine {
  @ApiProperty({ nullable: true, description: 'when the worker read the line (ISO)' }) ts!: string | null;
  @ApiProperty({ example: 'stdout', description: "stdout, stderr (a command), progress (an executor's own lines), worker, or other" }) stream!: string;
  @ApiProperty({ description: 'the line, without its newline; at most 4 KiB of UTF-8 (a longer one is cut, with a note)' }) text!: string;
  @ApiProperty({ nullable: true, description: 'the attempt that wrote it' }) attempt!: number | null;
}

export class TaskLogsDto implements TaskLogs {
  @ApiProperty() task_id!: string;
  @ApiProperty({ type: [LogLineDto], description: 'the last `tail` lines kept, oldest first' }) lines!: LogLine[];
  @ApiProperty({ description: 'false when the worker of the task sends no logs (the v1 fleet)' }) supported!: boolean;
  @ApiPropertyOptional({ description: 'why there are no lines, when that is known' }) note?: string;
}
