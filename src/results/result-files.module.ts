import { Module } from '@nestjs/common';
import { ResultFilesStore } from './result-files.store';

/** The file store alone, so that the multer options of ResultsModule can be built from it. */
@Module({ providers: [ResultFilesStore], exports: [ResultFilesStore] })
export class ResultFilesModule {}
