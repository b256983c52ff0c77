import { ValidationError, ValidationPipe } from '@nestjs/common';
import { DomainError } from './errors';

/** The first problem of a failed validation, with the path of the property it is about. */
function firstProblem(errors: ValidationError[], prefix = ''): { field: string; message: string } | null {
  for (const e of errors) {
    const field = prefix ? `${prefix}.${e.property}` : e.property;
    const message = e.constraints ? Object.values(e.constraints)[0] : undefined;
    if (message) return { field, message };
    const nested = firstProblem(e.children ?? [], field);
    if (nested) return nested;
  }
  return null;
}

/**
 * The global ValidationPipe (an APP_PIPE of AppModule): DTO classes with class-validator decorators
 * are checked and turned into instances; undecorated properties are dropped. A refusal is a 400
 * `invalid_request` whose `field` names the property, like every other bad input. Parameters typed
 * as primitives or `unknown` (the YAML body, path ids) pass through untouched.
 */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    transform: true,
    whitelist: true,
    stopAtFirstError: true,
    exceptionFactory: (errors) => {
      const p = firstProblem(errors);
      return new DomainError('invalid_request', p?.message ?? 'Invalid request', p?.field);
    },
  });
}
