import { useState, type FormEvent } from 'react';
import { api, type AppView, type Credential, type Page, apiPath } from '../api';
import { useSession } from '../App';
import { useT } from '../i18n';
import { Link, navigate } from '../router';
import { Empty, ErrorBox, Field, Secret, useAsync, when } from '../ui';

const ZONES: string[] = (() => {
  try {
    return Intl.supportedValuesOf('timeZone');
  } catch {
    return ['UTC'];
  }
})();

export function ZoneInput({ value, onChange }: { value: string; onChange: (v: string) => void }) {
  return (
    <>
      <input list="tz-list" value={value} onChange={(e) => onChange(e.target.value)} autoComplete="off" />
      <datalist id="tz-list">
        {ZONES.map((z) => (
          <option key={z} value={z} />
        ))}
      </datalist>
    </>
  );
}

export function AppsPage() {
  const t = useT();
  const { can } = useSession();
  const apps = useAsync(() => api.get<Page<AppView>>('/apps', { limit: 200 }), []);
  const [created, setCreated] = useState<AppView | null>(null);
  return (
    <section aria-labelledby="apps-title">
      <h1 id="apps-title">{t('apps')}</h1>
      {created?.master_secret && (
        <div className="card success" role="status">
          <p>{t('appCreated')}</p>
          <Secret label={t('appKey')} value={created.app_key} />
          <Secret label={t('masterSecret')} value={created.master_secret} />
          <Link to={`/apps/${created.id}`}>
            {t('open')} {created.name}
          </Link>
        </div>
      )}
      {can('apps.write') && (
        <CreateApp
          onCreated={(a) => {
            setCreated(a);
            void apps.reload();
          }}
        />
      )}
      <ErrorBox error={apps.error} />
      {apps.data && apps.data.items.length === 0 && <Empty>{t('noApps')}</Empty>}
      {apps.data && apps.data.items.length > 0 && (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">{t('name')}</th>
                <th scope="col">{t('appKey')}</th>
                <th scope="col">{t('timezone')}</th>
                <th scope="col">{t('created')}</th>
              </tr>
            </thead>
            <tbody>
              {apps.data.items.map((a) => (
                <tr key={a.id}>
                  <td>
                    <Link to={`/apps/${a.id}`}>{a.name}</Link>
                  </td>
                  <td>
                    <code>{a.app_key}</code>
                  </td>
                  <td>{a.timezone}</td>
                  <td>{when(a.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function CreateApp({ onCreated }: { onCreated: (a: AppView) => void }) {
  const t = useT();
  const [name, setName] = useState('');
  const [timezone, setTimezone] = useState(Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC');
  const [rate, setRate] = useState('');
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const app = await api.post<AppView>('/apps', {
        name,
        timezone,
        ...(rate && { rate_limit_per_minute: Number(rate) }),
      });
      setName('');
      onCreated(app);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form className="card" onSubmit={(e) => void submit(e)} aria-labelledby="new-app">
      <h2 id="new-app">{t('newApp')}</h2>
      <div className="grid">
        <Field label={t('name')}>
          <input required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field label={t('timezone')}>
          <ZoneInput value={timezone} onChange={setTimezone} />
        </Field>
        <Field label={t('rateLimit')}>
          <input type="number" min={1} max={1000000} value={rate} onChange={(e) => setRate(e.target.value)} />
        </Field>
      </div>
      <ErrorBox error={error} />
      <button type="submit">{t('create')}</button>
    </form>
  );
}

export function AppSettingsPage({ appId }: { appId: string }) {
  const t = useT();
  const { can } = useSession();
  const app = useAsync(() => api.get<AppView>(apiPath`/apps/${appId}`), [appId]);
  if (app.error) return <ErrorBox error={app.error} />;
  if (!app.data) return <p>{t('loading')}</p>;
  return (
    <section aria-labelledby="settings-title">
      <h1 id="settings-title">
        {app.data.name} — {t('settings')}
      </h1>
      <p>
        {t('appKey')}: <code>{app.data.app_key}</code>
      </p>
      {can('apps.write') ? (
        <AppForm app={app.data} onSaved={() => void app.reload()} />
      ) : (
        <dl className="facts">
          <dt>{t('timezone')}</dt>
          <dd>{app.data.timezone}</dd>
          <dt>{t('rateLimit')}</dt>
          <dd>{app.data.rate_limit_per_minute}</dd>
        </dl>
      )}
      {can('apps.rotate_secret') && <Rotate app={app.data} />}
      <Credentials appId={appId} />
      {can('push.test') && <TestSend appId={appId} />}
      {can('apps.delete') && <DeleteApp app={app.data} />}
    </section>
  );
}

function AppForm({ app, onSaved }: { app: AppView; onSaved: () => void }) {
  const t = useT();
  const [name, setName] = useState(app.name);
  const [timezone, setTimezone] = useState(app.timezone);
  const [rate, setRate] = useState(String(app.rate_limit_per_minute));
  const [error, setError] = useState<unknown>(null);
  const [ok, setOk] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setOk(false);
    try {
      await api.patch(apiPath`/apps/${app.id}`, { name, timezone, rate_limit_per_minute: Number(rate) });
      setOk(true);
      onSaved();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form className="card" onSubmit={(e) => void submit(e)} aria-labelledby="app-form">
      <h2 id="app-form">{t('settings')}</h2>
      <div className="grid">
        <Field label={t('name')}>
          <input required value={name} onChange={(e) => setName(e.target.value)} />
        </Field>
        <Field label={t('timezone')}>
          <ZoneInput value={timezone} onChange={setTimezone} />
        </Field>
        <Field label={t('rateLimit')}>
          <input type="number" min={1} required value={rate} onChange={(e) => setRate(e.target.value)} />
        </Field>
      </div>
      <ErrorBox error={error} />
      {ok && <p role="status">{t('saved')}</p>}
      <button type="submit">{t('save')}</button>
    </form>
  );
}

function Rotate({ app }: { app: AppView }) {
  const t = useT();
  const [overlap, setOverlap] = useState('86400');
  const [result, setResult] = useState<{
    master_secret: string;
    previous_secret_expires_at: string | null;
  } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!window.confirm(t('confirm'))) return;
    setError(null);
    try {
      setResult(await api.post(apiPath`/apps/${app.id}/rotate-secret`, { overlap_seconds: Number(overlap) }));
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form className="card" onSubmit={(e) => void submit(e)} aria-labelledby="rotate">
      <h2 id="rotate">{t('rotateSecret')}</h2>
      <p className="hint">{t('rotateHelp')}</p>
      <Field label={t('overlapSeconds')}>
        <input
          type="number"
          min={0}
          max={604800}
          value={overlap}
          onChange={(e) => setOverlap(e.target.value)}
        />
      </Field>
      <ErrorBox error={error} />
      {result && (
        <div role="status">
          <Secret label={t('newSecret')} value={result.master_secret} />
          <p>
            {t('previousExpires')}: {when(result.previous_secret_expires_at)}
          </p>
        </div>
      )}
      <button type="submit">{t('rotate')}</button>
    </form>
  );
}

function DeleteApp({ app }: { app: AppView }) {
  const t = useT();
  const [error, setError] = useState<unknown>(null);
  const remove = async () => {
    if (!window.confirm(`${t('confirm')} ${app.name}`)) return;
    try {
      await api.delete(apiPath`/apps/${app.id}`);
      navigate('/');
    } catch (err) {
      setError(err);
    }
  };
  return (
    <div className="card danger">
      <ErrorBox error={error} />
      <button type="button" className="danger" onClick={() => void remove()}>
        {t('remove')} {app.name}
      </button>
    </div>
  );
}

const readText = (f: File) => f.text();
async function readBase64(f: File): Promise<string> {
  const bytes = new Uint8Array(await f.arrayBuffer());
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function Credentials({ appId }: { appId: string }) {
  const t = useT();
  const { can } = useSession();
  const list = useAsync(
    () => api.get<Page<Credential> | Credential[]>(apiPath`/apps/${appId}/credentials`),
    [appId],
  );
  const items = Array.isArray(list.data) ? list.data : (list.data?.items ?? []);
  const [error, setError] = useState<unknown>(null);
  const remove = async (c: Credential) => {
    if (!window.confirm(t('confirm'))) return;
    try {
      await api.delete(apiPath`/apps/${appId}/credentials/${c.provider}?environment=${c.environment}`);
      void list.reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section className="card" aria-labelledby="creds">
      <h2 id="creds">{t('credentials')}</h2>
      <ErrorBox error={list.error ?? error} />
      {list.data && items.length === 0 && <Empty>{t('noCredentials')}</Empty>}
      {items.length > 0 && (
        <div className="table-wrap">
          <table data-testid="credentials">
            <thead>
              <tr>
                <th scope="col">{t('provider')}</th>
                <th scope="col">{t('environment')}</th>
                <th scope="col">{t('kind')}</th>
                <th scope="col">ID</th>
                <th scope="col">{t('fingerprint')}</th>
                <th scope="col">{t('expires')}</th>
                {can('credentials.write') && <th scope="col" />}
              </tr>
            </thead>
            <tbody>
              {items.map((c) => (
                <tr key={`${c.provider}-${c.environment}`}>
                  <td>{c.provider.toUpperCase()}</td>
                  <td>{c.environment}</td>
                  <td>{c.kind}</td>
                  <td>{[c.key_id, c.team_id, c.bundle_id, c.project_id].filter(Boolean).join(' · ')}</td>
                  <td>
                    <code>{c.fingerprint.slice(0, 16)}…</code>
                  </td>
                  <td>{when(c.certificate_expires_at)}</td>
                  {can('credentials.write') && (
                    <td>
                      <button type="button" className="small secondary" onClick={() => void remove(c)}>
                        {t('remove')}
                      </button>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {can('credentials.write') && (
        <div className="cred-forms">
          <ApnsTokenForm appId={appId} onSaved={() => void list.reload()} />
          <ApnsCertForm appId={appId} onSaved={() => void list.reload()} />
          <FcmForm appId={appId} onSaved={() => void list.reload()} />
        </div>
      )}
    </section>
  );
}

function EnvSelect({ value, onChange }: { value: string; onChange: (v: string) => void }) {
  const t = useT();
  return (
    <select value={value} onChange={(e) => onChange(e.target.value)}>
      <option value="both">{t('both')}</option>
      <option value="production">{t('production')}</option>
      <option value="sandbox">{t('sandbox')}</option>
    </select>
  );
}

function useUpload(onSaved: () => void) {
  const [error, setError] = useState<unknown>(null);
  const [ok, setOk] = useState(false);
  const run = async (fn: () => Promise<unknown>) => {
    setError(null);
    setOk(false);
    try {
      await fn();
      setOk(true);
      onSaved();
    } catch (err) {
      setError(err);
    }
  };
  return { error, ok, run };
}

function ApnsTokenForm({ appId, onSaved }: { appId: string; onSaved: () => void }) {
  const t = useT();
  const [file, setFile] = useState<File | null>(null);
  const [keyId, setKeyId] = useState('');
  const [teamId, setTeamId] = useState('');
  const [bundleId, setBundleId] = useState('');
  const [env, setEnv] = useState('both');
  const up = useUpload(onSaved);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void up.run(async () =>
      api.put(apiPath`/apps/${appId}/credentials/apns`, {
        environment: env,
        auth: 'token',
        key_id: keyId.trim(),
        team_id: teamId.trim(),
        bundle_id: bundleId.trim(),
        key: file ? await readText(file) : '',
      }),
    );
  };
  return (
    <form onSubmit={submit} aria-labelledby="apns-token" className="subcard">
      <h3 id="apns-token">{t('apnsToken')}</h3>
      <Field label={t('keyFile')}>
        <input
          type="file"
          accept=".p8,.pem,text/plain"
          required
          onChange={(e) => setFile(e.target.files?.[0] ?? null)}
        />
      </Field>
      <Field label={t('keyId')}>
        <input required value={keyId} onChange={(e) => setKeyId(e.target.value)} />
      </Field>
      <Field label={t('teamId')}>
        <input required value={teamId} onChange={(e) => setTeamId(e.target.value)} />
      </Field>
      <Field label={t('bundleId')}>
        <input required value={bundleId} onChange={(e) => setBundleId(e.target.value)} />
      </Field>
      <Field label={t('environment')}>
        <EnvSelect value={env} onChange={setEnv} />
      </Field>
      <ErrorBox error={up.error} />
      {up.ok && <p role="status">{t('uploaded')}</p>}
      <button type="submit">{t('upload')}</button>
    </form>
  );
}

function ApnsCertForm({ appId, onSaved }: { appId: string; onSaved: () => void }) {
  const t = useT();
  const [file, setFile] = useState<File | null>(null);
  const [passphrase, setPassphrase] = useState('');
  const [env, setEnv] = useState('both');
  const up = useUpload(onSaved);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void up.run(async () =>
      api.put(apiPath`/apps/${appId}/credentials/apns`, {
        environment: env,
        auth: 'certificate',
        p12: file ? await readBase64(file) : '',
        ...(passphrase && { passphrase }),
      }),
    );
  };
  return (
    <form onSubmit={submit} aria-labelledby="apns-cert" className="subcard">
      <h3 id="apns-cert">{t('apnsCert')}</h3>
      <Field label={t('p12File')}>
        <input
          type="file"
          accept=".p12,.pfx,application/x-pkcs12"
          required
          onChange={(e) => setFile(e.target.files?.[0] ?? null)}
        />
      </Field>
      <Field label={t('passphrase')}>
        <input
          type="password"
          value={passphrase}
          onChange={(e) => setPassphrase(e.target.value)}
          autoComplete="off"
        />
      </Field>
      <Field label={t('environment')}>
        <EnvSelect value={env} onChange={setEnv} />
      </Field>
      <ErrorBox error={up.error} />
      {up.ok && <p role="status">{t('uploaded')}</p>}
      <button type="submit">{t('upload')}</button>
    </form>
  );
}

function FcmForm({ appId, onSaved }: { appId: string; onSaved: () => void }) {
  const t = useT();
  const [file, setFile] = useState<File | null>(null);
  const up = useUpload(onSaved);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void up.run(async () => {
      let account: unknown;
      try {
        account = JSON.parse(file ? await readText(file) : '') as unknown;
      } catch {
        throw new Error(`${t('jsonFile')}: JSON?`);
      }
      return api.put(apiPath`/apps/${appId}/credentials/fcm`, { service_account: account });
    });
  };
  return (
    <form onSubmit={submit} aria-labelledby="fcm" className="subcard">
      <h3 id="fcm">{t('fcmAccount')}</h3>
      <Field label={t('jsonFile')}>
        <input
          type="file"
          accept=".json,application/json"
          required
          onChange={(e) => setFile(e.target.files?.[0] ?? null)}
        />
      </Field>
      <ErrorBox error={up.error} />
      {up.ok && <p role="status">{t('uploaded')}</p>}
      <button type="submit">{t('upload')}</button>
    </form>
  );
}

function TestSend({ appId }: { appId: string }) {
  const t = useT();
  const [rid, setRid] = useState('');
  const [alert, setAlert] = useState('');
  const [result, setResult] = useState<{ msg_id: string } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setResult(null);
    try {
      setResult(
        await api.post<{ msg_id: string }>(apiPath`/apps/${appId}/credentials/test`, {
          registration_id: rid.trim(),
          ...(alert && { alert }),
        }),
      );
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form className="card" onSubmit={(e) => void submit(e)} aria-labelledby="test-send">
      <h2 id="test-send">{t('testSend')}</h2>
      <div className="grid">
        <Field label={t('registrationId')}>
          <input required value={rid} onChange={(e) => setRid(e.target.value)} />
        </Field>
        <Field label={t('alert')}>
          <input value={alert} onChange={(e) => setAlert(e.target.value)} />
        </Field>
      </div>
      <ErrorBox error={error} />
      {result && (
        <p role="status">
          {t('sentAs')} <Link to={`/apps/${appId}/messages/${result.msg_id}`}>{result.msg_id}</Link>
        </p>
      )}
      <button type="submit">{t('send')}</button>
    </form>
  );
}
