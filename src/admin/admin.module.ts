import { Module } from '@nestjs/common';
import { SchedulerModule } from '../scheduler/scheduler.module';
import { TaskRetentionModule } from '../tasks/retention/retention.module';
import { WorkersModule } from '../workers/workers.module';
import { AdminController } from './admin.controller';
import { AdminService } from './admin.service';

@Module({ imports: [WorkersModule, SchedulerModule, TaskRetentionModule], controllers: [AdminController], providers: [AdminService] })
export class AdminModule {}
