import { useEffect, useState, type FormEvent } from 'react';
import { api, type Delivery, type DeviceView, type Page, apiPath } from '../api';
import { useT } from '../i18n';
import { Link } from '../router';
import { Empty, ErrorBox, Field, useAsync, when } from '../ui';

const EMPTY = { registration_id: '', alias: '', tag: '', token_suffix: '', status: '', channel: '' };

export function DevicesPage({ appId }: { appId: string }) {
  const t = useT();
  const [q, setQ] = useState(EMPTY);
  const [applied, setApplied] = useState(EMPTY);
  const [items, setItems] = useState<DeviceView[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loaded, setLoaded] = useState(false);
  const load = async (after?: string) => {
    try {
      const page = await api.get<Page<DeviceView>>(apiPath`/apps/${appId}/devices`, {
        ...applied,
        limit: 50,
        cursor: after,
      });
      setItems((prev) => (after ? [...prev, ...page.items] : page.items));
      setCursor(page.next_cursor);
      setError(null);
    } catch (err) {
      setError(err);
    } finally {
      setLoaded(true);
    }
  };
  useEffect(() => {
    void load();
  }, [appId, applied]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setApplied(q);
  };
  return (
    <section aria-labelledby="devices-title">
      <h1 id="devices-title">{t('devices')}</h1>
      <form className="card filters" onSubmit={submit} role="search" aria-label={t('search')}>
        <Field label={t('registrationId')}>
          <input
            value={q.registration_id}
            onChange={(e) => setQ({ ...q, registration_id: e.target.value })}
          />
        </Field>
        <Field label={t('alias')}>
          <input value={q.alias} onChange={(e) => setQ({ ...q, alias: e.target.value })} />
        </Field>
        <Field label={t('tag')}>
          <input value={q.tag} onChange={(e) => setQ({ ...q, tag: e.target.value })} />
        </Field>
        <Field label={t('tokenSuffix')}>
          <input
            minLength={4}
            value={q.token_suffix}
            onChange={(e) => setQ({ ...q, token_suffix: e.target.value })}
          />
        </Field>
        <Field label={t('status')}>
          <select value={q.status} onChange={(e) => setQ({ ...q, status: e.target.value })}>
            <option value="">{t('any')}</option>
            <option value="active">active</option>
            <option value="quarantined">quarantined</option>
            <option value="invalid">invalid</option>
          </select>
        </Field>
        <Field label={t('channel')}>
          <select value={q.channel} onChange={(e) => setQ({ ...q, channel: e.target.value })}>
            <option value="">{t('any')}</option>
            <option value="apns">APNs</option>
            <option value="fcm">FCM</option>
            <option value="gateway">Gateway</option>
          </select>
        </Field>
        <button type="submit">{t('search')}</button>
      </form>
      <ErrorBox error={error} />
      {loaded && items.length === 0 && !error && <Empty>{t('noDevices')}</Empty>}
      {items.length > 0 && (
        <div className="table-wrap">
          <table data-testid="devices">
            <thead>
              <tr>
                <th scope="col">{t('registrationId')}</th>
                <th scope="col">{t('platform')}</th>
                <th scope="col">{t('channel')}</th>
                <th scope="col">{t('alias')}</th>
                <th scope="col">{t('tag')}</th>
                <th scope="col">{t('status')}</th>
                <th scope="col">{t('lastSeen')}</th>
              </tr>
            </thead>
            <tbody>
              {items.map((d) => (
                <tr key={d.registration_id}>
                  <td>
                    <Link to={`/apps/${appId}/devices/${d.registration_id}`}>{d.registration_id}</Link>
                  </td>
                  <td>{d.platform}</td>
                  <td>{d.channel}</td>
                  <td>{d.alias ?? '—'}</td>
                  <td>{d.tags.join(', ') || '—'}</td>
                  <td>
                    <span className={`status status-${d.status}`}>{d.status}</span>
                  </td>
                  <td>{when(d.last_seen_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {cursor && (
        <button type="button" className="secondary" onClick={() => void load(cursor)}>
          {t('more')}
        </button>
      )}
    </section>
  );
}

export function DevicePage({ appId, rid }: { appId: string; rid: string }) {
  const t = useT();
  const device = useAsync(() => api.get<DeviceView>(apiPath`/apps/${appId}/devices/${rid}`), [appId, rid]);
  const deliveries = useAsync(
    () => api.get<Page<Delivery>>(apiPath`/apps/${appId}/devices/${rid}/deliveries`, { limit: 50 }),
    [appId, rid],
  );
  const d = device.data;
  return (
    <section aria-labelledby="device-title">
      <p>
        <Link to={`/apps/${appId}/devices`}>← {t('devices')}</Link>
      </p>
      <h1 id="device-title">
        {t('device')} {rid}
      </h1>
      <ErrorBox error={device.error} />
      {d && (
        <dl className="facts card" data-testid="device-facts">
          <dt>{t('status')}</dt>
          <dd>
            <span className={`status status-${d.status}`}>{d.status}</span>
            {d.status_reason && ` (${d.status_reason})`}
          </dd>
          <dt>{t('platform')}</dt>
          <dd>
            {d.platform} · {d.channel}
            {d.apns_environment && ` · ${d.apns_environment}`}
            {d.token_suffix && ` · …${d.token_suffix}`}
          </dd>
          <dt>{t('alias')}</dt>
          <dd>{d.alias ?? '—'}</dd>
          <dt>{t('tag')}</dt>
          <dd>
            {d.tags.length === 0
              ? '—'
              : d.tags.map((tag) => (
                  <span key={tag} className="chip">
                    {tag}
                  </span>
                ))}
          </dd>
          <dt>{t('language')}</dt>
          <dd>{d.language ?? '—'}</dd>
          <dt>{t('country')}</dt>
          <dd>{[d.country, d.province, d.city].filter(Boolean).join(' / ') || '—'}</dd>
          <dt>{t('timezone')}</dt>
          <dd>{d.timezone ?? '—'}</dd>
          <dt>{t('version')}</dt>
          <dd>
            {d.app_version ?? '—'} · {t('os')} {d.os_version ?? '—'} · {t('model')} {d.device_model ?? '—'}
          </dd>
          <dt>{t('lastSeen')}</dt>
          <dd>{when(d.last_seen_at)}</dd>
          <dt>{t('created')}</dt>
          <dd>{when(d.created_at)}</dd>
        </dl>
      )}
      <h2>{t('deliveries')}</h2>
      <ErrorBox error={deliveries.error} />
      {deliveries.data && deliveries.data.items.length === 0 && <Empty>—</Empty>}
      {deliveries.data && deliveries.data.items.length > 0 && (
        <div className="table-wrap">
          <table data-testid="deliveries">
            <thead>
              <tr>
                <th scope="col">{t('message')}</th>
                <th scope="col">{t('channel')}</th>
                <th scope="col">{t('state')}</th>
                <th scope="col">{t('reason')}</th>
                <th scope="col">{t('attempts')}</th>
                <th scope="col">{t('sent')}</th>
                <th scope="col">{t('delivered')}</th>
                <th scope="col">{t('clicked')}</th>
              </tr>
            </thead>
            <tbody>
              {deliveries.data.items.map((x) => (
                <tr key={`${x.msg_id}-${x.channel}`}>
                  <td>
                    <Link to={`/apps/${appId}/messages/${x.msg_id}`}>{x.msg_id}</Link>
                  </td>
                  <td>{x.channel}</td>
                  <td>{x.state}</td>
                  <td>{x.reason ?? '—'}</td>
                  <td>{x.attempts}</td>
                  <td>{when(x.sent_at)}</td>
                  <td>{when(x.delivered_at)}</td>
                  <td>{when(x.clicked_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
