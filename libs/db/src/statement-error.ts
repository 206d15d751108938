/** The SQLSTATE of a PostgreSQL error (TypeORM wraps the driver's error in `driverError`), if any. */
export function sqlState(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const code =
    (err as { driverError?: { code?: unknown } }).driverError?.code ?? (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Whether PostgreSQL refused a statement for what it contains (a value, a constraint, a deadlock) — so
 * running its rows apart can tell the row at fault from the others — rather than failing to run it
 * at all (no connection, server shutting down, pool exhausted), which running them apart would only
 * repeat once per row.
 */
export function refusedByContent(err: unknown): boolean {
  const code = sqlState(err);
  return code !== undefined && /^[0-9A-Z]{5}$/.test(code) && !/^(08|53|57)/.test(code);
}
