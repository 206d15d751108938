import { Controller, Get, Module, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Response } from 'express';
import { heraldMetrics } from './metrics';

/** `GET /metrics`: Prometheus text for everything this process counts. */
@ApiExcludeController()
@Controller()
export class MetricsController {
  @Get('metrics')
  async metrics(@Res() res: Response): Promise<void> {
    const body = await heraldMetrics.render();
    // Written raw: Express's send() would add a charset to Prometheus' exact content type.
    res.writeHead(200, { 'Content-Type': heraldMetrics.contentType, 'Cache-Control': 'no-store' }).end(body);
  }
}

@Module({ controllers: [MetricsController] })
export class MetricsModule {}
