import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Public } from '../common/auth.guard';

@ApiTags('health')
@Controller()
export class HealthController {
  @Get('healthz')
  @Public()
  @ApiOperation({ summary: 'Liveness: the process answers (never needs auth)' })
  @ApiOkResponse({ schema: { example: { ok: true } } })
  healthz() {
    return { ok: true };
  }
}
