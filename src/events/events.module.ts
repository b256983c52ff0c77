import { Module } from '@nestjs/common';
import { SchedulerModule } from '../scheduler/scheduler.module';
import { TasksModule } from '../tasks/tasks.module';
import { WorkersModule } from '../workers/workers.module';
import { DeadLettersController } from './dead-letters.controller';
import { DeadLetters } from './dead-letters.service';
import { EventChannelsRepository } from './event-channels.repository';
import { EventStreamRepository } from './event-stream.repository';
import { EventsSubscriber } from './events.subscriber';
import { LivenessService } from './liveness.service';
import { TaskEventsService } from './task-events.service';
import { StreamConsumer } from './stream-consumer';

@Module({
  imports: [TasksModule, SchedulerModule, WorkersModule],
  providers: [EventChannelsRepository, EventStreamRepository, EventsSubscriber, TaskEventsService, LivenessService, StreamConsumer, DeadLetters],
  controllers: [DeadLettersController],
  exports: [LivenessService],
})
export class EventsModule {}
