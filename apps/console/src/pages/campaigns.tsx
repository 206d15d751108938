import { useState } from 'react';
import { api, type Campaign, type CampaignRun, type Page, apiPath } from '../api';
import { useSession } from '../App';
import { useT } from '../i18n';
import { Link } from '../router';
import { Empty, ErrorBox, useAsync, when } from '../ui';

function describe(trigger: unknown): string {
  const tr = trigger as {
    single?: { time: string };
    periodical?: {
      start: string;
      end: string;
      time: string;
      time_unit: string;
      frequency: number;
      point?: string[];
    };
  };
  if (tr.single) return tr.single.time;
  if (tr.periodical) {
    const p = tr.periodical;
    return `${p.time} / ${p.frequency} ${p.time_unit}${p.point ? ` (${p.point.join(',')})` : ''} · ${p.start} → ${p.end}`;
  }
  return JSON.stringify(trigger);
}

export function CampaignsPage({ appId }: { appId: string }) {
  const t = useT();
  const { can } = useSession();
  const list = useAsync(
    () => api.get<Page<Campaign>>(apiPath`/apps/${appId}/campaigns`, { limit: 100 }),
    [appId],
  );
  const [error, setError] = useState<unknown>(null);
  const [open, setOpen] = useState<string | null>(null);
  const act = async (c: Campaign, action: 'pause' | 'resume' | 'cancel') => {
    if (action === 'cancel' && !window.confirm(t('confirm'))) return;
    setError(null);
    try {
      await api.post(apiPath`/apps/${appId}/campaigns/${c.id}/${action}`);
      void list.reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section aria-labelledby="campaigns-title">
      <h1 id="campaigns-title">{t('campaigns')}</h1>
      {can('campaigns.write') && (
        <p>
          <Link to={`/apps/${appId}/compose`}>{t('schedule')} →</Link>
        </p>
      )}
      <ErrorBox error={list.error ?? error} />
      {list.data && list.data.items.length === 0 && <Empty>{t('noCampaigns')}</Empty>}
      {list.data && list.data.items.length > 0 && (
        <div className="table-wrap">
          <table data-testid="campaigns">
            <thead>
              <tr>
                <th scope="col">{t('name')}</th>
                <th scope="col">{t('status')}</th>
                <th scope="col">{t('when')}</th>
                <th scope="col">{t('nextFire')}</th>
                <th scope="col">{t('runs')}</th>
                <th scope="col" />
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((c) => (
                <tr key={c.id}>
                  <td>{c.name}</td>
                  <td>
                    <span className={`status status-${c.status}`} data-testid="campaign-status">
                      {c.status}
                    </span>
                  </td>
                  <td>
                    {describe(c.trigger)} {c.local_time ? `(${t('localTime')})` : `(${c.timezone})`}
                  </td>
                  <td>{when(c.next_fire_at)}</td>
                  <td>
                    <button
                      type="button"
                      className="link"
                      aria-expanded={open === c.id}
                      onClick={() => setOpen(open === c.id ? null : c.id)}
                    >
                      {c.runs}
                    </button>
                  </td>
                  <td className="actions">
                    {can('campaigns.write') && c.status === 'scheduled' && (
                      <button type="button" className="small" onClick={() => void act(c, 'pause')}>
                        {t('pause')}
                      </button>
                    )}
                    {can('campaigns.write') && c.status === 'paused' && (
                      <button type="button" className="small" onClick={() => void act(c, 'resume')}>
                        {t('resume')}
                      </button>
                    )}
                    {can('campaigns.write') && (c.status === 'scheduled' || c.status === 'paused') && (
                      <button type="button" className="small danger" onClick={() => void act(c, 'cancel')}>
                        {t('cancel')}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {open && <Runs appId={appId} campaignId={open} />}
    </section>
  );
}

function Runs({ appId, campaignId }: { appId: string; campaignId: string }) {
  const t = useT();
  const runs = useAsync(
    () => api.get<Page<CampaignRun>>(apiPath`/apps/${appId}/campaigns/${campaignId}/runs`),
    [campaignId],
  );
  if (runs.error) return <ErrorBox error={runs.error} />;
  if (!runs.data) return <p>{t('loading')}</p>;
  if (runs.data.items.length === 0) return <Empty>—</Empty>;
  return (
    <div className="table-wrap card">
      <h2>{t('runs')}</h2>
      <table>
        <thead>
          <tr>
            <th scope="col">{t('when')}</th>
            <th scope="col">{t('message')}</th>
            <th scope="col">{t('status')}</th>
            <th scope="col">{t('targets')}</th>
            <th scope="col">{t('sent')}</th>
            <th scope="col">{t('failed')}</th>
            <th scope="col">{t('delivered')}</th>
            <th scope="col">{t('clicked')}</th>
          </tr>
        </thead>
        <tbody>
          {runs.data.items.map((r) => (
            <tr key={`${r.fire_at}-${r.utc_offset_minutes}`}>
              <td>{when(r.fire_at)}</td>
              <td>{r.msg_id ? <Link to={`/apps/${appId}/messages/${r.msg_id}`}>{r.msg_id}</Link> : '—'}</td>
              <td>{r.status ?? '—'}</td>
              <td>{r.targets}</td>
              <td>{r.sent}</td>
              <td>{r.failed}</td>
              <td>{r.delivered}</td>
              <td>{r.clicked}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
