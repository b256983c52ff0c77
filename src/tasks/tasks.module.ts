import { Module } from '@nestjs/common';
import { SchedulerModule } from '../scheduler/scheduler.module';
import { TaskLogsModule } from './logs/task-logs.module';
import { TaskProgressService } from './task-progress.service';
import { TasksController } from './tasks.controller';
import { TasksRepository } from './tasks.repository';
import { TasksService } from './tasks.service';
import { YamlThread } from './yaml-thread';
import { IdempotencyRepository } from './idempotency/idempotency.repository';
import { IdempotentSubmissions } from './idempotency/idempotent-submissions';

@Module({
  imports: [SchedulerModule, TaskLogsModule],
  controllers: [TasksController],
  providers: [TasksRepository, TasksService, TaskProgressService, YamlThread, IdempotencyRepository, IdempotentSubmissions],
  exports: [TasksService, TaskProgressService],
})
export class TasksModule {}
