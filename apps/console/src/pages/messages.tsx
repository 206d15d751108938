import { useEffect, useRef, useState, type FormEvent } from 'react';
import { api, type MessageView, type Page, apiPath } from '../api';
import { useSession } from '../App';
import { useT } from '../i18n';
import { Link } from '../router';
import { BarChart, Empty, ErrorBox, Field, LineChart, ProgressBar, when } from '../ui';

const STATUSES = ['accepted', 'planning', 'sending', 'completed', 'cancelled', 'failed'];
const SOURCES = ['push', 'batch', 'schedule', 'campaign', 'test'];
const ACTIVE = new Set(['accepted', 'planning', 'sending']);

const isoOf = (local: string) => (local ? new Date(local).toISOString() : undefined);

export function MessagesPage({ appId }: { appId: string }) {
  const t = useT();
  const [filters, setFilters] = useState({ status: '', source: '', from: '', to: '' });
  const [applied, setApplied] = useState(filters);
  const [items, setItems] = useState<MessageView[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loaded, setLoaded] = useState(false);

  const load = async (after?: string) => {
    try {
      const page = await api.get<Page<MessageView>>(apiPath`/apps/${appId}/messages`, {
        limit: 50,
        cursor: after,
        status: applied.status || undefined,
        source: applied.source || undefined,
        from: isoOf(applied.from),
        to: isoOf(applied.to),
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
    // Reloads when the applied filters change.
  }, [appId, applied]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setApplied(filters);
  };
  return (
    <section aria-labelledby="messages-title">
      <h1 id="messages-title">{t('history')}</h1>
      <form className="card filters" onSubmit={submit} aria-label={t('filter')}>
        <Field label={t('status')}>
          <select value={filters.status} onChange={(e) => setFilters({ ...filters, status: e.target.value })}>
            <option value="">{t('any')}</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </Field>
        <Field label={t('source')}>
          <select value={filters.source} onChange={(e) => setFilters({ ...filters, source: e.target.value })}>
            <option value="">{t('any')}</option>
            {SOURCES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </Field>
        <Field label={t('from')}>
          <input
            type="datetime-local"
            value={filters.from}
            onChange={(e) => setFilters({ ...filters, from: e.target.value })}
          />
        </Field>
        <Field label={t('to')}>
          <input
            type="datetime-local"
            value={filters.to}
            onChange={(e) => setFilters({ ...filters, to: e.target.value })}
          />
        </Field>
        <button type="submit">{t('apply')}</button>
      </form>
      <ErrorBox error={error} />
      {loaded && items.length === 0 && !error && <Empty>{t('noMessages')}</Empty>}
      {items.length > 0 && (
        <div className="table-wrap">
          <table data-testid="messages">
            <thead>
              <tr>
                <th scope="col">{t('message')}</th>
                <th scope="col">{t('created')}</th>
                <th scope="col">{t('source')}</th>
                <th scope="col">{t('status')}</th>
                <th scope="col">{t('progress')}</th>
                <th scope="col">{t('targets')}</th>
                <th scope="col">{t('sent')}</th>
                <th scope="col">{t('failed')}</th>
                <th scope="col">{t('delivered')}</th>
                <th scope="col">{t('clicked')}</th>
              </tr>
            </thead>
            <tbody>
              {items.map((m) => (
                <tr key={m.msg_id}>
                  <td>
                    <Link to={`/apps/${appId}/messages/${m.msg_id}`}>{m.msg_id}</Link>
                  </td>
                  <td>{when(m.created_at)}</td>
                  <td>{m.source}</td>
                  <td>
                    <span className={`status status-${m.status}`}>{m.status}</span>
                  </td>
                  <td className="narrow">
                    <ProgressBar value={m.progress} label={`${m.msg_id} ${t('progress')}`} />
                  </td>
                  <td>{m.totals.targets}</td>
                  <td>{m.totals.sent}</td>
                  <td>{m.totals.failed}</td>
                  <td>{m.totals.delivered}</td>
                  <td>{m.totals.clicked}</td>
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

const COUNTS = ['targets', 'sent', 'delivered', 'clicked', 'failed'] as const;

export function MessagePage({ appId, msgId }: { appId: string; msgId: string }) {
  const t = useT();
  const { can } = useSession();
  const [m, setM] = useState<MessageView | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState('');
  const [samples, setSamples] = useState<{ t: number; values: Record<string, number> }[]>([]);
  const timer = useRef<number | undefined>(undefined);

  // Polls every second while the message is on its way; stops once it is final.
  useEffect(() => {
    let live = true;
    const tick = async () => {
      try {
        const next = await api.get<MessageView>(apiPath`/apps/${appId}/messages/${msgId}`);
        if (!live) return;
        setM(next);
        setError(null);
        setSamples((s) => [...s, { t: Date.now(), values: { ...next.totals } }].slice(-300));
        if (ACTIVE.has(next.status)) timer.current = window.setTimeout(() => void tick(), 1000);
      } catch (err) {
        if (live) setError(err);
      }
    };
    void tick();
    return () => {
      live = false;
      window.clearTimeout(timer.current);
    };
  }, [appId, msgId]);

  const recall = async () => {
    if (!window.confirm(t('recallConfirm'))) return;
    try {
      setM(await api.post<MessageView>(apiPath`/apps/${appId}/messages/${msgId}/cancel`));
      setNotice(t('recalled'));
    } catch (err) {
      setError(err);
    }
  };

  if (!m) return error ? <ErrorBox error={error} /> : <p>{t('loading')}</p>;
  const channels = Object.keys(m.by_channel ?? {}).sort();
  const failures = m.failures ?? [];
  return (
    <section aria-labelledby="message-title">
      <p>
        <Link to={`/apps/${appId}/messages`}>← {t('history')}</Link>
      </p>
      <h1 id="message-title">
        {t('message')} {m.msg_id}
      </h1>
      <div className="card">
        <p>
          {t('status')}:{' '}
          <span className={`status status-${m.status}`} data-testid="message-status">
            {m.status}
          </span>{' '}
          · {t('source')}: {m.source} · {t('created')}: {when(m.created_at)}
          {m.completed_at && ` · ✓ ${when(m.completed_at)}`}
          {m.cancelled_at && ` · ✕ ${when(m.cancelled_at)}`}
        </p>
        <ProgressBar value={m.progress} label={t('progress')} />
        <dl className="counts" data-testid="totals">
          {COUNTS.map((k) => (
            <div key={k}>
              <dt>{t(k)}</dt>
              <dd data-testid={`total-${k}`}>{m.totals[k]}</dd>
            </div>
          ))}
        </dl>
        {m.error && <p className="error">{m.error}</p>}
        {notice && <p role="status">{notice}</p>}
        <ErrorBox error={error} />
        {can('messages.cancel') && ACTIVE.has(m.status) && (
          <button type="button" className="danger" onClick={() => void recall()}>
            {t('recall')}
          </button>
        )}
      </div>
      {channels.length > 0 && (
        <BarChart
          title={t('byChannel')}
          groups={channels}
          series={(['sent', 'delivered', 'clicked', 'failed'] as const).map((k) => ({ key: k, label: t(k) }))}
          values={(g, k) => (m.by_channel?.[g] as unknown as Record<string, number> | undefined)?.[k] ?? 0}
        />
      )}
      {failures.length > 0 && (
        <BarChart
          title={t('failures')}
          groups={failures.map((f) => `${f.channel}: ${f.reason}`)}
          series={[{ key: 'failed', label: t('failed') }]}
          values={(g) => failures.find((f) => `${f.channel}: ${f.reason}` === g)?.count ?? 0}
        />
      )}
      <LineChart
        title={t('overTime')}
        points={samples}
        series={(['sent', 'delivered', 'failed'] as const).map((k) => ({ key: k, label: t(k) }))}
      />
      {m.request !== undefined && (
        <details className="card">
          <summary>{t('request')}</summary>
          <pre>{JSON.stringify(m.request, null, 2)}</pre>
        </details>
      )}
    </section>
  );
}
