import { applyDecorators } from '@nestjs/common';
import { ApiBearerAuth, ApiForbiddenResponse, ApiProperty, ApiServiceUnavailableResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';

/** The error body every route answers with (see errors.ts). */
export class ErrorBodyDto {
  @ApiProperty({ example: 400 }) statusCode!: number;
  @ApiProperty({ example: 'Bad Request' }) error!: string;
  @ApiProperty({ example: 'Missing required field: spec.resources.hardware.memory' }) message!: string;
  @ApiProperty({
    example: 'invalid_task',
    description:
      'stable machine-readable code (invalid_task, invalid_request, unauthorized, forbidden, not_found, conflict, payload_too_large, too_many_tasks, unsupported_media_type, redis_unavailable, ...)',
  })
  code!: string;
  @ApiProperty({
    example: 'spec.resources.hardware.memory',
    nullable: true,
    type: String,
    description: 'path of the offending field or query parameter; null when none is to blame',
  })
  field!: string | null;
  @ApiProperty({ example: '0b7c2f0e-4c1d-4a57-9c55-2f6b8f4a1e2d', nullable: true, type: String, description: 'also in the x-request-id header and the log' }) requestId!:
    string | null;
}

/** Auth and its OpenAPI description in one decorator, so they cannot drift apart. */
export const ApiAuth = () =>
  applyDecorators(
    ApiBearerAuth('bearer'),
    ApiUnauthorizedResponse({ description: 'ORCHESTRATOR_TOKEN is set and the Authorization header is missing or malformed', type: ErrorBodyDto }),
    ApiForbiddenResponse({ description: 'Wrong bearer token', type: ErrorBodyDto }),
    ApiServiceUnavailableResponse({ description: 'Redis is unavailable', type: ErrorBodyDto }),
  );
