import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { Api, ApiError, type ApiEnv, type Session } from './api';

/**
 * The console's API client against a fake dashboard API whose refresh tokens work once (a reused one
 * ends the whole login, as the real one does) and a localStorage shared by several "tabs", each with
 * its own `storage` events.
 */
const KEY = 'herald.console.session';

interface Call {
  path: string;
  token?: string;
  body?: Record<string, unknown>;
}

class FakeServer {
  readonly calls: Call[] = [];
  readonly validAccess = new Set<string>();
  private readonly usedRefresh = new Set<string>();
  private readonly liveRefresh = new Set<string>();
  revoked = false;
  readonly loggedOut: string[] = [];
  private n = 0;
  /** The next refresh answers this instead (a network error or a status). */
  refreshFailure: 'network' | number | null = null;

  constructor() {
    this.validAccess.add('A0');
    this.liveRefresh.add('R0');
  }

  fetch = async (url: string, init?: RequestInit): Promise<Response> => {
    const path = url.replace('/dashboard/v1', '');
    const headers = (init?.headers ?? {}) as Record<string, string>;
    const body = init?.body ? (JSON.parse(init.body as string) as Record<string, unknown>) : undefined;
    const token = headers.authorization?.slice('Bearer '.length);
    this.calls.push({ path, token, body });
    await new Promise((r) => setTimeout(r, 1));
    const json = (status: number, o: unknown) =>
      new Response(status === 204 ? null : JSON.stringify(o), { status });
    const refused = json(401, { code: 'unauthorized', message: 'not valid' });
    if (path === '/auth/refresh') {
      const failure = this.refreshFailure;
      this.refreshFailure = null;
      if (failure === 'network') throw new TypeError('Failed to fetch');
      if (typeof failure === 'number') return json(failure, { code: String(failure), message: 'down' });
      const rt = String(body?.refresh_token);
      if (this.revoked || !this.liveRefresh.has(rt)) return refused;
      if (this.usedRefresh.has(rt)) {
        this.revoked = true;
        return json(401, { code: 'unauthorized', message: 'refresh token was already used' });
      }
      this.usedRefresh.add(rt);
      this.n++;
      this.validAccess.add(`A${this.n}`);
      this.liveRefresh.add(`R${this.n}`);
      return json(200, {
        access_token: `A${this.n}`,
        refresh_token: `R${this.n}`,
        tenant_id: 't',
        user_id: 'u',
        role: 'owner',
      });
    }
    if (path === '/auth/login') {
      this.validAccess.add('L1');
      return json(200, {
        access_token: 'L1',
        refresh_token: 'LR1',
        tenant_id: body?.tenant_id,
        user_id: 'u',
        role: 'admin',
      });
    }
    if (path === '/auth/accept-invite') {
      if (body?.token === 'used') return json(404, { code: 'not_found', message: 'invitation is used' });
      if (body?.token === 'busy') {
        return new Response(JSON.stringify({ code: 'rate_limited', message: 'slow down' }), {
          status: 429,
          headers: { 'retry-after': '42' },
        });
      }
      this.validAccess.add('I1');
      return json(200, {
        access_token: 'I1',
        refresh_token: 'IR1',
        tenant_id: 't3',
        user_id: 'v',
        role: 'viewer',
      });
    }
    if (path === '/me' && token === 'I1') return json(200, { user: { email: 'new@example.com' } });
    if (this.revoked || !token || !this.validAccess.has(token)) return refused;
    if (path === '/auth/logout') {
      // Ends the login the token belongs to (first login: A*/R*; the login of /auth/login: L*).
      const family = token[0];
      for (const set of [this.validAccess, this.liveRefresh]) {
        for (const t of set) if (t[0] === family || (family === 'A' && t[0] === 'R')) set.delete(t);
      }
      this.loggedOut.push(token);
      return json(204, null);
    }
    return json(200, { ok: token });
  };

  /** Fifteen minutes pass: every access token issued so far expires. */
  expireAccess(): void {
    this.validAccess.clear();
  }

  refreshes(): Call[] {
    return this.calls.filter((c) => c.path === '/auth/refresh');
  }
}

/** One origin's localStorage; a write fires `storage` in every tab but the writer, as browsers do. */
class Browser {
  private readonly data = new Map<string, string>();
  private readonly tabs: EventTarget[] = [];
  private tail: Promise<unknown> = Promise.resolve();
  /** navigator.locks: callbacks for one name run one after another. */
  readonly locks = {
    request: (_name: string, cb: () => Promise<unknown>): Promise<unknown> => {
      const run = this.tail.then(cb);
      this.tail = run.catch(() => undefined);
      return run;
    },
  };

  tab(opts: { locks?: boolean } = {}): Api {
    const events = new EventTarget();
    this.tabs.push(events);
    const fire = (key: string) => {
      for (const t of this.tabs) {
        if (t !== events) t.dispatchEvent(Object.assign(new Event('storage'), { key }));
      }
    };
    const env: ApiEnv = {
      storage: {
        getItem: (k) => this.data.get(k) ?? null,
        setItem: (k, v) => {
          this.data.set(k, v);
          fire(k);
        },
        removeItem: (k) => {
          this.data.delete(k);
          fire(k);
        },
      },
      events,
      ...(opts.locks !== false && { locks: this.locks }),
    };
    return new Api(env);
  }

  /** Writes without telling any tab (as if the event were still on its way). */
  seed(session: Session): void {
    this.data.set(KEY, JSON.stringify(session));
  }

  stored(): Session | null {
    const raw = this.data.get(KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  }
}

const SESSION: Session = {
  access_token: 'A0',
  refresh_token: 'R0',
  tenant_id: 't',
  user_id: 'u',
  role: 'owner',
  email: 'e@example.com',
};

let server: FakeServer;
let browser: Browser;
const realFetch = globalThis.fetch;

beforeEach(() => {
  server = new FakeServer();
  globalThis.fetch = server.fetch as typeof fetch;
  browser = new Browser();
  browser.seed(SESSION);
});

afterEach(() => {
  globalThis.fetch = realFetch;
});

describe('two tabs of one browser', () => {
  it('refresh one after the other: the second uses the first one’s tokens (no Web Locks)', async () => {
    const a = browser.tab({ locks: false });
    const b = browser.tab({ locks: false });
    server.expireAccess();
    await expect(a.get('/me')).resolves.toEqual({ ok: 'A1' });
    await expect(b.get('/me')).resolves.toEqual({ ok: 'A1' });
    await expect(a.get('/me')).resolves.toEqual({ ok: 'A1' });
    expect(server.revoked).toBe(false);
    expect(server.refreshes()).toHaveLength(1);
    expect(browser.stored()?.refresh_token).toBe('R1');
  });

  it('refresh at the same moment: Web Locks make it one refresh', async () => {
    const a = browser.tab();
    const b = browser.tab();
    server.expireAccess();
    await expect(Promise.all([a.get('/me'), b.get('/me'), a.get('/x')])).resolves.toEqual([
      { ok: 'A1' },
      { ok: 'A1' },
      { ok: 'A1' },
    ]);
    expect(server.revoked).toBe(false);
    expect(server.refreshes()).toHaveLength(1);
  });

  it('pick up another tab’s new session and its sign-out from storage events', async () => {
    const a = browser.tab();
    const b = browser.tab();
    const seen: (string | null)[] = [];
    b.onChange((s) => seen.push(s?.access_token ?? null));
    server.expireAccess();
    await a.get('/me');
    expect(b.current?.access_token).toBe('A1');
    // B calls with the new token at once: no refresh of its own.
    await expect(b.get('/me')).resolves.toEqual({ ok: 'A1' });
    expect(server.refreshes()).toHaveLength(1);
    await a.signOut();
    expect(b.current).toBeNull();
    expect(seen).toEqual(['A1', null]);
  });
});

describe('a refresh that fails', () => {
  it('for a moment (network, 5xx) keeps the session and shows the error; a later call refreshes', async () => {
    const a = browser.tab();
    server.expireAccess();
    server.refreshFailure = 'network';
    await expect(a.get('/me')).rejects.toThrow('Failed to fetch');
    expect(a.current).toEqual(SESSION);
    expect(browser.stored()).toEqual(SESSION);
    server.refreshFailure = 503;
    await expect(a.get('/me')).rejects.toMatchObject({ status: 503 });
    expect(a.current).toEqual(SESSION);
    await expect(a.get('/me')).resolves.toEqual({ ok: 'A1' });
  });

  it('with 401 signs out', async () => {
    const a = browser.tab();
    server.expireAccess();
    server.revoked = true;
    const err = await a.get('/me').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(401);
    expect(a.current).toBeNull();
    expect(browser.stored()).toBeNull();
  });
});

describe('ending a login', () => {
  it('signing out after the access token expired refreshes first, so the server ends the login', async () => {
    const a = browser.tab();
    server.expireAccess();
    await a.signOut();
    expect(server.calls.map((c) => [c.path, c.token])).toEqual([
      ['/auth/logout', 'A0'],
      ['/auth/refresh', undefined],
      ['/auth/logout', 'A1'],
    ]);
    expect(server.loggedOut).toEqual(['A1']);
    // The login's refresh tokens no longer work.
    await expect(
      server.fetch('/dashboard/v1/auth/refresh', { body: JSON.stringify({ refresh_token: 'R1' }) }),
    ).resolves.toMatchObject({ status: 401 });
    expect([a.current, browser.stored()]).toEqual([null, null]);
  });

  it('switching tenant ends the old login and keeps the new one', async () => {
    const a = browser.tab();
    server.expireAccess();
    const next = await a.switchTenant('pw', 't2');
    expect(server.calls.map((c) => c.path)).toEqual([
      '/auth/login',
      '/auth/logout',
      '/auth/refresh',
      '/auth/logout',
    ]);
    expect(server.loggedOut).toEqual(['A1']);
    expect(next).toMatchObject({ access_token: 'L1', tenant_id: 't2', email: SESSION.email });
    expect(browser.stored()).toEqual(next);
    await expect(a.get('/me')).resolves.toEqual({ ok: 'L1' });
  });

  it('accepting an invitation keeps its session (address from /me) and ends the login there was', async () => {
    const a = browser.tab();
    const next = await a.acceptInvite('hinv_x', 'pw', 'New');
    expect(server.calls.map((c) => [c.path, c.token])).toEqual([
      ['/auth/accept-invite', undefined],
      ['/me', 'I1'],
      ['/auth/logout', 'A0'],
    ]);
    expect(server.calls[0].body).toEqual({ token: 'hinv_x', password: 'pw', display_name: 'New' });
    expect(next).toMatchObject({
      access_token: 'I1',
      tenant_id: 't3',
      role: 'viewer',
      email: 'new@example.com',
    });
    expect(browser.stored()).toEqual(next);
  });

  it('a refused invitation leaves the session as it was; a 429 says when to retry', async () => {
    const a = browser.tab();
    await expect(a.acceptInvite('used', 'pw')).rejects.toMatchObject({ status: 404, code: 'not_found' });
    await expect(a.acceptInvite('busy', 'pw')).rejects.toMatchObject({ status: 429, retryAfter: 42 });
    expect(browser.stored()).toEqual(SESSION);
    expect(server.loggedOut).toEqual([]);
  });
});
