import {
  Component,
  createContext,
  useContext,
  useEffect,
  useState,
  type FormEvent,
  type ReactNode,
} from 'react';
import { api, can, type AppView, type Me, type Permission, type Session, apiPath } from './api';
import { LanguageSwitch, useT } from './i18n';
import { AuthPage } from './pages/auth';
import { AppSettingsPage, AppsPage } from './pages/apps';
import { CampaignsPage } from './pages/campaigns';
import { ComposePage } from './pages/compose';
import { DevicePage, DevicesPage } from './pages/devices';
import { INVITE_PATH, InvitePage } from './pages/invite';
import { MembersPage } from './pages/members';
import { MessagePage, MessagesPage } from './pages/messages';
import { StatsPage } from './pages/stats';
import { Link, match, navigate, usePath } from './router';
import { ErrorBox, useAsync } from './ui';

interface SessionState {
  session: Session;
  me: Me | undefined;
  can: (p: Permission) => boolean;
}

const SessionContext = createContext<SessionState | null>(null);

export function useSession(): SessionState {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside a signed-in page');
  return s;
}

export function App() {
  const [session, setSession] = useState<Session | null>(api.current);
  useEffect(() => api.onChange(setSession), []);
  const path = usePath();
  // Signed in or not: accepting may sign this browser in as someone else, in another organisation.
  if (path === INVITE_PATH) return <InvitePage />;
  if (!session) return <AuthPage mode={path === '/signup' ? 'signup' : 'signin'} />;
  return <SignedIn session={session} path={path} />;
}

function SignedIn({ session, path }: { session: Session; path: string }) {
  const me = useAsync(() => api.get<Me>('/me'), [session.access_token]);
  // The membership is read on every request: trust /me's role over the one remembered at sign-in.
  const role = me.data?.role ?? session.role;
  const state: SessionState = { session, me: me.data, can: (p) => can(role, p) };
  useEffect(() => {
    if (path === '/signup' || path === '/login') navigate('/', true);
  }, [path]);
  return (
    <SessionContext.Provider value={state}>
      <Shell path={path}>
        <PageBoundary key={path}>
          <Routes path={path} />
        </PageBoundary>
      </Shell>
    </SessionContext.Provider>
  );
}

const APP_SECTIONS = [
  ['', 'overview'],
  ['/compose', 'compose'],
  ['/campaigns', 'campaigns'],
  ['/messages', 'messages'],
  ['/devices', 'devices'],
  ['/stats', 'statistics'],
] as const;

function Shell({ path, children }: { path: string; children: ReactNode }) {
  const t = useT();
  const { session, me } = useSession();
  const appId = match('/apps/:id', path.split('/').slice(0, 3).join('/'))?.id;
  const app = useAsync(
    () => (appId ? api.get<AppView>(apiPath`/apps/${appId}`) : Promise.resolve(undefined)),
    [appId],
  );
  const role = me?.role ?? session.role;
  return (
    <div className="shell">
      <a className="skip" href="#main">
        {t('skip')}
      </a>
      <header className="top">
        <Link to="/" className="brand">
          {t('brand')}
        </Link>
        <nav aria-label={t('tenant')} className="top-nav">
          <Link to="/" aria-current={path === '/' ? 'page' : undefined}>
            {t('apps')}
          </Link>
          <Link to="/members" aria-current={path === '/members' ? 'page' : undefined}>
            {t('members')}
          </Link>
        </nav>
        <div className="top-tools">
          <TenantSwitcher />
          <span className="role-badge" data-testid="role">
            {t(role)}
          </span>
          <LanguageSwitch />
          <button type="button" className="link" onClick={() => void api.signOut()}>
            {t('signOut')}
          </button>
        </div>
      </header>
      {appId && (
        <nav className="app-nav" aria-label={app.data?.name ?? t('apps')}>
          <strong className="app-name">{app.data?.name ?? '…'}</strong>
          {APP_SECTIONS.map(([suffix, key]) => {
            const to = `/apps/${appId}${suffix}`;
            const active = suffix === '' ? path === to : path.startsWith(to);
            return (
              <Link key={key} to={to} aria-current={active ? 'page' : undefined}>
                {t(key)}
              </Link>
            );
          })}
        </nav>
      )}
      <main id="main" tabIndex={-1}>
        {role === 'viewer' && <p className="note">{t('viewerNote')}</p>}
        {children}
      </main>
    </div>
  );
}

function Routes({ path }: { path: string }) {
  const t = useT();
  const routes: [string, (p: Record<string, string>) => ReactNode][] = [
    ['/', () => <AppsPage />],
    ['/members', () => <MembersPage />],
    ['/apps/:id', (p) => <AppSettingsPage appId={p.id} />],
    ['/apps/:id/compose', (p) => <ComposePage appId={p.id} />],
    ['/apps/:id/campaigns', (p) => <CampaignsPage appId={p.id} />],
    ['/apps/:id/messages', (p) => <MessagesPage appId={p.id} />],
    ['/apps/:id/messages/:mid', (p) => <MessagePage appId={p.id} msgId={p.mid} />],
    ['/apps/:id/devices', (p) => <DevicesPage appId={p.id} />],
    ['/apps/:id/devices/:rid', (p) => <DevicePage appId={p.id} rid={p.rid} />],
    ['/apps/:id/stats', (p) => <StatsPage appId={p.id} />],
  ];
  for (const [pattern, render] of routes) {
    const params = match(pattern, path);
    // Keyed by path so a page's state starts fresh when its parameters change.
    if (params) return <div key={path}>{render(params)}</div>;
  }
  return <p>{t('notFound')}</p>;
}

/** A page that throws while rendering shows why, and the shell around it (navigation) keeps working. */
class PageBoundary extends Component<{ children: ReactNode }, { error: unknown }> {
  override state: { error: unknown } = { error: null };

  static getDerivedStateFromError(error: unknown) {
    return { error };
  }

  override render() {
    return this.state.error === null ? this.props.children : <PageError error={this.state.error} />;
  }
}

function PageError({ error }: { error: unknown }) {
  const t = useT();
  return (
    <>
      <p>{t('pageError')}</p>
      <ErrorBox error={error} />
    </>
  );
}

/** Another tenant needs a new session there, so switching asks for the password again. */
function TenantSwitcher() {
  const t = useT();
  const { session, me } = useSession();
  const [target, setTarget] = useState<string | null>(null);
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  if (!me) return null;
  const current = me.tenants.find((x) => x.id === session.tenant_id);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!target) return;
    try {
      await api.switchTenant(password, target);
      setTarget(null);
      setPassword('');
      navigate('/');
    } catch (err) {
      setError(err);
    }
  };
  return (
    <>
      <label className="inline">
        <span className="sr-only">{t('switchTenant')}</span>
        <select
          aria-label={t('switchTenant')}
          value={session.tenant_id}
          onChange={(e) => {
            setError(null);
            setTarget(e.target.value === session.tenant_id ? null : e.target.value);
          }}
        >
          {me.tenants.map((x) => (
            <option key={x.id} value={x.id}>
              {x.name}
            </option>
          ))}
          {!current && <option value={session.tenant_id}>{session.tenant_id}</option>}
        </select>
      </label>
      {target && (
        <div className="dialog-backdrop">
          <form
            className="dialog"
            role="dialog"
            aria-modal="true"
            aria-labelledby="switch-title"
            onSubmit={(e) => void submit(e)}
          >
            <h2 id="switch-title">
              {t('switchPrompt')} {me.tenants.find((x) => x.id === target)?.name}
            </h2>
            <label className="field">
              <span className="field-label">{t('password')}</span>
              <input
                type="password"
                autoFocus
                value={password}
                onChange={(e) => setPassword(e.target.value)}
                autoComplete="current-password"
              />
            </label>
            <ErrorBox error={error} />
            <div className="row">
              <button type="submit">{t('switch')}</button>
              <button type="button" className="secondary" onClick={() => setTarget(null)}>
                {t('cancel')}
              </button>
            </div>
          </form>
        </div>
      )}
    </>
  );
}
