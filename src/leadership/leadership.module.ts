import { Global, Module } from '@nestjs/common';
import { LeadershipService } from './leadership.service';

@Global()
@Module({ providers: [LeadershipService], exports: [LeadershipService] })
export class LeadershipModule {}
