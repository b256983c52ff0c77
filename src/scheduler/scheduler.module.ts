import { Module } from '@nestjs/common';
import { WorkersModule } from '../workers/workers.module';
import { RecoveryService } from './recovery.service';
import { SchedulerRepository } from './scheduler.repository';
import { SchedulerService } from './scheduler.service';
import { WorkerIndex } from './worker-index';

@Module({ imports: [WorkersModule], providers: [SchedulerRepository, SchedulerService, WorkerIndex, RecoveryService], exports: [SchedulerService, WorkerIndex, RecoveryService] })
export class SchedulerModule {}
