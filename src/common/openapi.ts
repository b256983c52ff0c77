import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';

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
  describeJsonSubmission(document);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json', swaggerOptions: { persistAuthorization: true } });
}

/**
 * @ApiBody gives every content type of a route the same schema; the JSON form of a submission is
 * an object `{"yaml": "<document>"}`, not a string, so its entry is rewritten here.
 */
function describeJsonSubmission(document: OpenAPIObject) {
  const content = (document.paths['/api/v1/tasks']?.post?.requestBody as { content?: Record<string, { schema?: { example?: string } }> } | undefined)?.content;
  const yaml = content?.['text/yaml']?.schema?.example;
  if (!content || !yaml) return;
  content['application/json'] = {
    schema: { type: 'object', required: ['yaml'], properties: { yaml: { type: 'string', description: 'the YAML task document' } }, example: { yaml } },
  } as never;
}
