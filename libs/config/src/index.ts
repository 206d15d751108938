export { envSchema } from './config.schema';
export {
  ConfigError,
  configFromProcessEnv,
  loadConfig,
  redactConfig,
  type HeraldConfig,
  type MasterKey,
} from './herald-config';
export { HERALD_CONFIG, HeraldConfigModule } from './config.module';
export { loadConfigOrExit } from './boot';
