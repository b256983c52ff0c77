import { Module } from '@nestjs/common';
import { TaskRemovalController } from './retention.controller';
import { RetentionRepository } from './retention.repository';
import { TaskRetentionService } from './retention.service';

/**
 * Bounded task history (docs/guarantees.md, "Retention"): the leader's removal of finished tasks
 * whose retention is over, DELETE /api/v1/tasks/{id}, and the prune that POST /admin/prune runs.
 * Exports TaskRetentionService (ResultsModule registers the removal of result files with it).
 */
@Module({ controllers: [TaskRemovalController], providers: [RetentionRepository, TaskRetentionService], exports: [TaskRetentionService] })
export class TaskRetentionModule {}
