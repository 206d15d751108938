export { envSchema, type HeraldEnv } from './config.schema';
export {
  ConfigError,
  configFromProcessEnv,
  loadConfig,
  redactConfig,
  type HeraldConfig,
  type MasterKey,
} from './herald-config';
export { HERALD_CONFIG, HeraldConfigModule, InjectConfig } from './config.module';
export { loadConfigOrExit } from './boot';
