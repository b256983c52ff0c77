import { applyDecorators } from '@nestjs/common';
import { ApiBearerAuth, ApiForbiddenResponse, ApiProperty, ApiPropertyOptional, ApiServiceUnavailableResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';

/** The error body every route answers with (see errors.ts). */
export class ErrorBodyDto {
  @ApiProperty({ example: 400 }) statusCode!: number;
  @ApiProperty({ example: 'Bad Request' }) error!: string;
  @ApiProperty({ example: 'Missing required field: spec.resources.hardware.memory' }) message!: string;
  @ApiPropertyOptional({ example: 'invalid_task' }) code?: string;
  @ApiPropertyOptional({ example: 'spec.resources.hardware.memory' }) field?: string;
  @ApiPropertyOptional({ example: '0b7c2f0e-4c1d-4a57-9c55-2f6b8f4a1e2d' }) requestId?: string;
}

/** Auth and its OpenAPI description in one decorator, so they cannot drift apart. */
export const ApiAuth = () =>
  applyDecorators(
    ApiBearerAuth('bearer'),
    ApiUnauthorizedResponse({ description: 'ORCHESTRATOR_TOKEN is set and the Authorization header is missing or malformed', type: ErrorBodyDto }),
    ApiForbiddenResponse({ description: 'Wrong bearer token', type: ErrorBodyDto }),
    ApiServiceUnavailableResponse({ description: 'Redis is unavailable', type: ErrorBodyDto }),
  );
