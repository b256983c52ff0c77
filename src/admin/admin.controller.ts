import { Controller, HttpCode, Post } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiAuth } from '../common/api-docs';
import { AdminService } from './admin.service';

@ApiTags('admin')
@ApiAuth()
@Controller('admin')
export class AdminController {
  constructor(private readonly admin: AdminService) {}

  @Post('cleanup')
  @HttpCode(200)
  @ApiOperation({ summary: 'Remove stale workers now', description: 'Tasks they held go back to the queue, counted as a failed attempt.' })
  @ApiOkResponse({ schema: { example: { ok: true, removed: 1 } } })
  async cleanup(): Promise<{ ok: true; removed: number }> {
    const { removed } = await this.admin.cleanup();
    return { ok: true, removed };
  }
}
