import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import { catchError, type Observable, throwError } from 'rxjs';
import { HeraldError } from '@herald/common';
import { PG_BAD_INPUT, PG_UNAVAILABLE } from '../http/global-exception.filter';

const NET_UNAVAILABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT']);

/**
 * JPush's schedule API answers its own failures with 8200 (500, unexpected) and 8203 (503, "retry
 * later"), where the push API uses 1000; validation failures that reach here unconverted are 8100.
 * Errors keep their HTTP status and message; the global filter still shapes and logs them.
 */
export function toScheduleError(err: unknown): unknown {
  if (err instanceof HeraldError) {
    if (err.status === 503) return withCode(err, 8203);
    if (err.status >= 500) return withCode(err, 8200);
    if (err.status === 400 && err.jpushCode < 8000) return withCode(err, 8100);
    return err;
  }
  if (!(err instanceof Error))
    return new HeraldError('internal', 'internal error', { jpushCode: 8200, cause: err });
  const code =
    (err as { driverError?: { code?: unknown } }).driverError?.code ?? (err as { code?: unknown }).code;
  if (typeof code === 'string' && PG_BAD_INPUT.has(code)) {
    return new HeraldError('invalid_parameter', 'invalid parameter value', { jpushCode: 8100, cause: err });
  }
  const unavailable =
    (typeof code === 'string' && (PG_UNAVAILABLE.test(code) || NET_UNAVAILABLE.has(code))) ||
    err.name === 'MaxRetriesPerRequestError' ||
    /timeout exceeded when trying to connect|Stream isn't writeable|Connection is closed/.test(err.message);
  if (unavailable) {
    return new HeraldError('unavailable', 'Execute action timeout, please try later again', {
      jpushCode: 8203,
      headers: { 'Retry-After': '1' },
      cause: err,
    });
  }
  return new HeraldError('internal', 'Server internal error.', { jpushCode: 8200, cause: err });
}

function withCode(err: HeraldError, jpushCode: number): HeraldError {
  return new HeraldError(err.code, err.message, {
    jpushCode,
    status: err.status,
    headers: err.headers,
    details: err.details,
    cause: err.cause ?? err,
  });
}

@Injectable()
export class ScheduleErrorsInterceptor implements NestInterceptor {
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(catchError((err: unknown) => throwError(() => toScheduleError(err))));
  }
}
