import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, type OpenAPIObject, SwaggerModule } from '@nestjs/swagger';

export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Herald')
    .setDescription(
      'Push notification aggregation: the JPush v3–compatible developer API (`/v3`), the device SDK API ' +
        '(`/sdk/v1`) and the tenant dashboard API (`/dashboard/v1`).',
    )
    .setVersion('1')
    .addBasicAuth({ type: 'http', scheme: 'basic', description: 'base64(appKey:masterSecret)' }, 'app')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'registration_id:device_secret' }, 'device')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'dashboard access token' }, 'dashboard')
    .build();
  return SwaggerModule.createDocument(app, config);
}
