import { DynamicModule, Global, Module } from '@nestjs/common';
import type { HeraldConfig } from './herald-config';

export const HERALD_CONFIG = Symbol('HERALD_CONFIG');

@Global()
@Module({})
export class HeraldConfigModule {
  static forRoot(config: HeraldConfig): DynamicModule {
    return {
      module: HeraldConfigModule,
      providers: [{ provide: HERALD_CONFIG, useValue: config }],
      exports: [HERALD_CONFIG],
    };
  }
}
