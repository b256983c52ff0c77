import { Module } from '@nestjs/common';
import { WorkersModule } from '../../workers/workers.module';
import { TaskLogsRepository } from './task-logs.repository';
import { TaskLogsService } from './task-logs.service';

/** Task logs (v2 workers write them, docs/logs.md): read, followed, removed. Exports TaskLogsService (remove() for retention). */
@Module({ imports: [WorkersModule], providers: [TaskLogsRepository, TaskLogsService], exports: [TaskLogsService] })
export class TaskLogsModule {}
