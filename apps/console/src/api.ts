/**
 * The console's only door to Herald: the dashboard API (`/dashboard/v1`). Access tokens live 15
 * minutes; a 401 is answered by one refresh and the call is retried once. Refresh tokens work once and
 * the server takes a reused one for theft (it ends the whole login), so the tabs of one browser, which
 * share the session in localStorage, never refresh the same token twice: concurrent calls in a tab
 * share one refresh, tabs take turns (Web Locks, where the browser has them), each re-reads the stored
 * session before refreshing (another tab may have refreshed already), and `storage` events carry one
 * tab's new tokens and sign-outs to the others.
 */

export type Role = 'owner' | 'admin' | 'developer' | 'viewer';

export interface Session {
  access_token: string;
  refresh_token: string;
  tenant_id: string;
  user_id: string;
  role: Role;
  email: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
    /** Seconds to wait before trying again, from a 429's `Retry-After`. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }

  /** Every problem the server listed (credential checks answer several at once). */
  get problems(): string[] {
    const errors = this.details?.errors;
    if (Array.isArray(errors)) return errors.map((e) => (typeof e === 'string' ? e : JSON.stringify(e)));
    return [this.message];
  }
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/**
 * An API path whose interpolated values are each encoded as one path segment:
 * `` apiPath`/apps/${appId}/messages/${msgId}` ``. Values come from the address bar too (a crafted
 * link's `..%2F` must not walk the path to another resource).
 */
export function apiPath(strings: TemplateStringsArray, ...values: (string | number)[]): string {
  return strings.reduce((out, s, i) => out + encodeURIComponent(String(values[i - 1])) + s);
}

const STORAGE_KEY = 'herald.console.session';
const REFRESH_LOCK = 'herald-refresh';
const BASE = '/dashboard/v1';

type Listener = (s: Session | null) => void;

/** What the tabs of one browser share: the stored session, its `storage` events, Web Locks. */
export interface ApiEnv {
  storage: Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;
  /** Where other tabs' `storage` events arrive (the window). */
  events?: Pick<EventTarget, 'addEventListener'>;
  /** `navigator.locks` (secure contexts only): one refresh at a time across tabs. */
  locks?: { request(name: string, callback: () => Promise<unknown>): Promise<unknown> };
}

function browserEnv(): ApiEnv {
  const memory = new Map<string, string>();
  return {
    storage:
      typeof localStorage === 'undefined'
        ? {
            getItem: (k) => memory.get(k) ?? null,
            setItem: (k, v) => void memory.set(k, v),
            removeItem: (k) => void memory.delete(k),
          }
        : localStorage,
    events: typeof window === 'undefined' ? undefined : window,
    locks: typeof navigator === 'undefined' ? undefined : navigator.locks,
  };
}

const sameSession = (a: Session | null, b: Session | null) =>
  a?.access_token === b?.access_token && a?.refresh_token === b?.refresh_token;

export class Api {
  private session: Session | null;
  private refreshing: Promise<boolean> | null = null;
  private readonly listeners = new Set<Listener>();

  constructor(private readonly env: ApiEnv = browserEnv()) {
    this.session = this.stored();
    // Another tab refreshed, signed in or signed out (the event never fires in the tab that wrote).
    env.events?.addEventListener('storage', (e) => {
      const key = (e as StorageEvent).key;
      if (key === STORAGE_KEY || key === null) this.adopt(this.stored());
    });
  }

  private stored(): Session | null {
    try {
      const raw = this.env.storage.getItem(STORAGE_KEY);
      return raw ? (JSON.parse(raw) as Session) : null;
    } catch {
      return null;
    }
  }

  /** Takes the session another tab stored, without writing it back. */
  private adopt(session: Session | null): void {
    if (sameSession(session, this.session)) return;
    this.session = session;
    for (const l of this.listeners) l(session);
  }

  get current(): Session | null {
    return this.session;
  }

  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  setSession(session: Session | null): void {
    this.session = session;
    if (session) this.env.storage.setItem(STORAGE_KEY, JSON.stringify(session));
    else this.env.storage.removeItem(STORAGE_KEY);
    for (const l of this.listeners) l(session);
  }

  async signIn(email: string, password: string, tenantId?: string): Promise<Session> {
    const body = { email, password, ...(tenantId && { tenant_id: tenantId }) };
    return this.start(await this.raw<Omit<Session, 'email'>>('POST', '/auth/login', body), email);
  }

  async signUp(email: string, password: string, tenantName: string): Promise<Session> {
    const body = { email, password, tenant_name: tenantName };
    return this.start(await this.raw<Omit<Session, 'email'>>('POST', '/auth/signup', body), email);
  }

  /**
   * Accepts an invitation (`token` from the inviter's link): a new address sets `password`, an
   * existing account gives its own. The answer is a session in the inviting tenant, kept like a
   * sign-in's; its e-mail address (the invitation's) is read from `/me`. A login this browser already
   * had (another account or tenant) is ended once the new one has started, as switching does.
   */
  async acceptInvite(token: string, password: string, displayName?: string): Promise<Session> {
    const body = { token, password, ...(displayName && { display_name: displayName }) };
    const next = await this.raw<Omit<Session, 'email'>>('POST', '/auth/accept-invite', body);
    let email = '';
    try {
      email = (await this.raw<Me>('GET', '/me', undefined, next.access_token)).user.email;
    } catch {
      // The invitation is used up by now: keep the session; only switching organisation needs the address.
    }
    await this.endLogin();
    return this.start(next, email);
  }

  /**
   * Ends the login on the server, then here. The logout goes the way every call goes, so an access
   * token that expired while the console sat idle is refreshed first: otherwise the server would
   * refuse it and the login's refresh tokens would stay valid for their 30 days.
   */
  async signOut(): Promise<void> {
    await this.endLogin();
    this.setSession(null);
  }

  /**
   * A session belongs to one tenant: switching is a new login (the password is checked first, so a
   * wrong one leaves the current login as it was), and the old login is ended before the new one is
   * kept.
   */
  async switchTenant(password: string, tenantId: string): Promise<Session> {
    const email = this.session?.email ?? '';
    const body = { email, password, tenant_id: tenantId };
    const next = await this.raw<Omit<Session, 'email'>>('POST', '/auth/login', body);
    await this.endLogin();
    return this.start(next, email);
  }

  private async endLogin(): Promise<void> {
    try {
      if (this.session) await this.call('POST', '/auth/logout');
    } catch {
      // Signing out here is what matters: a login the server cannot end now expires on its own.
    }
  }

  get<T>(path: string, query?: Record<string, string | number | undefined>): Promise<T> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== '') qs.set(k, String(v));
    const q = qs.toString();
    return this.call<T>('GET', q ? `${path}?${q}` : path);
  }

  post<T>(path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    return this.call<T>('POST', path, body ?? {}, headers);
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>('PUT', path, body);
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>('PATCH', path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.call<T>('DELETE', path);
  }

  private start(s: Omit<Session, 'email'>, email: string): Session {
    const session: Session = {
      access_token: s.access_token,
      refresh_token: s.refresh_token,
      tenant_id: s.tenant_id,
      user_id: s.user_id,
      role: s.role,
      email,
    };
    this.setSession(session);
    return session;
  }

  private async call<T>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<T> {
    const token = this.session?.access_token;
    try {
      return await this.raw<T>(method, path, body, token, headers);
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401 || !this.session) throw err;
      if (!(await this.refresh(token))) throw err;
      return this.raw<T>(method, path, body, this.session?.access_token, headers);
    }
  }

  /**
   * A working session after `failed` (an access token) was refused: true, or false when the login is
   * over (signed out: the refresh token was refused with 401, or another tab signed out). A refresh
   * that failed otherwise (network, 5xx, rate limit) keeps the session and rejects with its error, so
   * the page shows it and a later call tries again. Calls of this tab share one refresh; tabs take
   * turns where the browser has Web Locks.
   */
  private refresh(failed: string | undefined): Promise<boolean> {
    this.refreshing ??= this.oneTabAtATime(() => this.refreshNow(failed)).finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async refreshNow(failed: string | undefined): Promise<boolean> {
    // Another tab may have refreshed (or signed in, or out) since this one read the session: its
    // tokens are the newer ones, and refreshing this tab's old token would end the login.
    const stored = this.stored();
    if (!sameSession(stored, this.session)) this.adopt(stored);
    const s = this.session;
    if (!s) return false;
    if (s.access_token !== failed) return true;
    try {
      const next = await this.raw<Omit<Session, 'email'>>('POST', '/auth/refresh', {
        refresh_token: s.refresh_token,
      });
      this.start(next, s.email);
      return true;
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 401) throw err;
      // Refused: this login is over, unless another tab has signed in meanwhile.
      const now = this.stored();
      if (now && now.refresh_token !== s.refresh_token) {
        this.adopt(now);
        return true;
      }
      this.setSession(null);
      return false;
    }
  }

  private async oneTabAtATime<T>(fn: () => Promise<T>): Promise<T> {
    const locks = this.env.locks;
    if (!locks) return fn();
    return (await locks.request(REFRESH_LOCK, fn)) as T;
  }

  private async raw<T>(
    method: string,
    path: string,
    body?: unknown,
    token?: string,
    headers: Record<string, string> = {},
  ): Promise<T> {
    const res = await fetch(BASE + path, {
      method,
      headers: {
        accept: 'application/json',
        ...(body !== undefined && { 'content-type': 'application/json' }),
        ...(token && { authorization: `Bearer ${token}` }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let data: unknown = undefined;
    try {
      data = text ? (JSON.parse(text) as unknown) : undefined;
    } catch {
      data = undefined;
    }
    if (!res.ok) {
      const e = (data ?? {}) as { code?: string; message?: string; details?: Record<string, unknown> };
      const retryAfter = Number(res.headers.get('retry-after') ?? NaN);
      throw new ApiError(
        res.status,
        e.code ?? String(res.status),
        e.message ?? res.statusText,
        e.details,
        Number.isFinite(retryAfter) ? retryAfter : undefined,
      );
    }
    return data as T;
  }
}

export const api = new Api();

/** The dashboard's permission matrix (docs/api-guide.md), used to hide what the role may not do. */
export const PERMISSIONS = {
  'members.manage': ['owner', 'admin'],
  'apps.write': ['owner', 'admin'],
  'apps.delete': ['owner'],
  'apps.rotate_secret': ['owner', 'admin'],
  'credentials.write': ['owner', 'admin', 'developer'],
  'push.test': ['owner', 'admin', 'developer'],
  'push.send': ['owner', 'admin', 'developer'],
  'segments.write': ['owner', 'admin', 'developer'],
  'campaigns.write': ['owner', 'admin', 'developer'],
  'messages.cancel': ['owner', 'admin', 'developer'],
  'audit.read': ['owner', 'admin'],
} as const satisfies Record<string, readonly Role[]>;

export type Permission = keyof typeof PERMISSIONS;

export function can(role: Role | undefined, permission: Permission): boolean {
  return role !== undefined && (PERMISSIONS[permission] as readonly Role[]).includes(role);
}

// Shapes of the answers the console reads (docs/api-guide.md "Dashboard API").

export interface AppView {
  id: string;
  name: string;
  app_key: string;
  timezone: string;
  rate_limit_per_minute: number;
  previous_secret_expires_at: string | null;
  created_at: string;
  master_secret?: string;
}

export interface Credential {
  provider: 'apns' | 'fcm';
  environment: string;
  kind: string;
  key_id: string | null;
  team_id: string | null;
  bundle_id: string | null;
  project_id: string | null;
  certificate_expires_at: string | null;
  fingerprint: string;
  updated_at: string;
}

export interface Totals {
  targets: number;
  sent: number;
  failed: number;
  delivered: number;
  clicked: number;
  dismissed?: number;
}

export interface MessageView {
  msg_id: string;
  sendno: string;
  source: string;
  status: string;
  platforms: string[];
  progress: number;
  totals: Totals;
  error: string | null;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  cancelled_at: string | null;
  request?: unknown;
  by_channel?: Record<string, Totals>;
  failures?: { channel: string; reason: string; count: number }[];
  shards?: { total: number; done: number };
}

export interface DeviceView {
  registration_id: string;
  platform: string;
  channel: string;
  token_suffix: string | null;
  apns_environment: string | null;
  alias: string | null;
  tags: string[];
  status: string;
  status_reason: string | null;
  language: string | null;
  country: string | null;
  province: string | null;
  city: string | null;
  timezone: string | null;
  app_version: string | null;
  os_version: string | null;
  device_model: string | null;
  last_seen_at: string | null;
  created_at: string;
}

export interface Delivery {
  msg_id: string;
  channel: string;
  state: string;
  reason: string | null;
  attempts: number;
  sent_at: string | null;
  delivered_at: string | null;
  clicked_at: string | null;
  created_at: string;
}

export interface Campaign {
  id: string;
  name: string;
  status: string;
  trigger: unknown;
  push: unknown;
  local_time: boolean;
  timezone: string;
  next_fire_at: string | null;
  last_fire_at: string | null;
  runs: number;
}

export interface CampaignRun {
  fire_at: string;
  utc_offset_minutes: number;
  msg_id: string | null;
  status: string | null;
  targets: number;
  sent: number;
  failed: number;
  delivered: number;
  clicked: number;
}

export interface Day {
  date: string;
  messages: number;
  targets: number;
  sent: number;
  failed: number;
  delivered: number;
  clicked: number;
  new_devices: number;
  active_devices: number;
}

export interface Segment {
  id: string;
  name: string;
  filter: unknown;
}

export interface Validation {
  audience_size: number;
  channels: Partial<Record<'apns' | 'fcm' | 'gateway', { count: number; payload_bytes: number | null }>>;
}

export interface Me {
  user: { id: string; email: string; display_name: string | null };
  tenant_id: string;
  role: Role;
  tenants: { id: string; name: string; role: Role }[];
}

export interface Member {
  user_id: string;
  email: string;
  display_name: string | null;
  role: Role;
  joined_at: string;
}
