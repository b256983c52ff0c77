import { Module } from '@nestjs/common';
import { WorkersModule } from '../workers/workers.module';
import { SchedulerRepository } from './scheduler.repository';
import { SchedulerService } from './scheduler.service';
import { WorkerIndex } from './worker-index';

@Module({ imports: [WorkersModule], providers: [SchedulerRepository, SchedulerService, WorkerIndex], exports: [SchedulerService, SchedulerRepository, WorkerIndex] })
export class SchedulerModule {}
