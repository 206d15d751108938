import { ConfigError, configFromProcessEnv, type HeraldConfig } from './herald-config';

/**
 * Loads the configuration for a process entry point. A bad value ends the process at once with
 * exit code 78 (EX_CONFIG) and a message that names every offending key — before anything connects.
 */
export function loadConfigOrExit(app: string): HeraldConfig {
  try {
    return configFromProcessEnv();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`herald ${app}: invalid configuration, not starting\n`);
      for (const issue of err.issues) process.stderr.write(`  ${issue.key}: ${issue.message}\n`);
      process.exit(78);
    }
    throw err;
  }
}
