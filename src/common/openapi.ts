import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';

/** Swagger UI at /docs, the OpenAPI document at /docs-json, with a bearer scheme usable from the UI. */
export function setupOpenApi(app: INestApplication) {
  const config = new DocumentBuilder()
    .setTitle('MLOC orchestrator')
    .setDescription(
      'Control plane for ML jobs on GPU/CPU workers. Submit YAML task documents, follow tasks and workers. ' +
        'When ORCHESTRATOR_TOKEN is set, click "Authorize" and paste the token.',
    )
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'The ORCHESTRATOR_TOKEN value' }, 'bearer')
    .build();
  const document = SwaggerModule.createDocument(app, config);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json', swaggerOptions: { persistAuthorization: true } });
}
