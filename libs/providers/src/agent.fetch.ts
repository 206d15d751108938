import type { Agent } from 'node:https';
import { request } from 'node:https';

/**
 * A minimal `fetch` over `node:https` with a given agent, for google-auth-library's token exchange.
 * Its transport (gaxios) would otherwise load `node-fetch` through a dynamic ESM `import()`, which
 * fails inside jest's VM and is the one path that honours `agent`; Node's own `fetch` ignores agents.
 * The token request is a small form POST with a JSON answer, which is all this needs to carry.
 */
export function fetchThroughAgent(agent: Agent): typeof fetch {
  return async (input: string | URL | Request, init: RequestInit = {}) => {
    const url =
      typeof input === 'string' ? new URL(input) : input instanceof URL ? input : new URL(input.url);
    const headers: Record<string, string> = {};
    new Headers(init.headers).forEach((value, key) => {
      headers[key] = value;
    });
    const body = bodyBytes(init.body);
    if (body && headers['content-type'] === undefined && init.body instanceof URLSearchParams) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    if (body) headers['content-length'] = String(body.length);
    return new Promise<Response>((resolve, reject) => {
      const req = request(url, { method: init.method ?? 'GET', headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const responseHeaders = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (v !== undefined) responseHeaders.set(k, Array.isArray(v) ? v.join(', ') : v);
          }
          const status = res.statusCode ?? 500;
          const payload = status === 204 || status === 304 ? null : Buffer.concat(chunks);
          resolve(
            new Response(payload, { status, statusText: res.statusMessage ?? '', headers: responseHeaders }),
          );
        });
      });
      req.on('error', reject);
      init.signal?.addEventListener('abort', () => req.destroy(new Error('aborted')));
      req.end(body);
    });
  };
}

function bodyBytes(body: RequestInit['body']): Buffer | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof URLSearchParams) return Buffer.from(body.toString());
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  if (ArrayBuffer.isView(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  throw new TypeError('fetchThroughAgent: unsupported body type');
}
