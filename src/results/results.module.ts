import { Module, OnModuleInit } from '@nestjs/common';
import { MulterModule } from '@nestjs/platform-express';
import { ResultFilesModule } from './result-files.module';
import { ResultFilesStore } from './result-files.store';
import { KnownTaskInterceptor, ResultsController } from './results.controller';
import { ResultsRepository } from './results.repository';
import { ResultsService } from './results.service';
import { TaskRetentionModule } from '../tasks/retention/retention.module';
import { TaskRetentionService } from '../tasks/retention/retention.service';

/** Results and files of tasks over HTTP (docs/results.md). Exports ResultsService (remove() for retention). */
@Module({
  imports: [
    ResultFilesModule,
    TaskRetentionModule,
    MulterModule.registerAsync({
      imports: [ResultFilesModule],
      inject: [ResultFilesStore],
      useFactory: (store: ResultFilesStore) => ({
        storage: store.multerStorage(),
        // Names arrive whole (a path in them is refused, not cut to its last part) and as UTF-8.
        preservePath: true,
        defParamCharset: 'utf8',
        limits: { files: 1, fields: 20, fieldSize: 64 * 1024, parts: 30 },
      }),
    }),
  ],
  controllers: [ResultsController],
  providers: [ResultsRepository, ResultsService, KnownTaskInterceptor],
  exports: [ResultsService],
})
export class ResultsModule implements OnModuleInit {
  constructor(
    private readonly retention: TaskRetentionService,
    private readonly results: ResultsService,
  ) {}

  /** A task removed (retention, DELETE, prune) takes its result files with it. */
  onModuleInit() {
    this.retention.onRemoved(async (ids) => {
      for (const id of ids) await this.results.remove(id);
    });
  }
}
