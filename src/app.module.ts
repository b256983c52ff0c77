import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import { AdminModule } from './admin/admin.module';
import { BearerAuthGuard } from './common/auth.guard';
import { ErrorFilter } from './common/error.filter';
import { createValidationPipe } from './common/validation';
import { ConfigModule } from './config/config.module';
import type { AppConfig } from './config/env';
import { EventsModule } from './events/events.module';
import { HealthModule } from './health/health.module';
import { LeadershipModule } from './leadership/leadership.module';
import { MetricsModule } from './metrics/metrics.module';
import { RedisModule } from './redis/redis.module';
import { ResultsModule } from './results/results.module';
import { SchedulerModule } from './scheduler/scheduler.module';
import { TasksModule } from './tasks/tasks.module';
import { WorkersModule } from './workers/workers.module';

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        ScheduleModule.forRoot(),
        MetricsModule,
        RedisModule,
        LeadershipModule,
        WorkersModule,
        SchedulerModule,
        TasksModule,
        EventsModule,
        ResultsModule,
        AdminModule,
        HealthModule,
      ],
      providers: [
        { provide: APP_GUARD, useClass: BearerAuthGuard },
        { provide: APP_FILTER, useClass: ErrorFilter },
        { provide: APP_PIPE, useFactory: createValidationPipe },
      ],
    };
  }
}
