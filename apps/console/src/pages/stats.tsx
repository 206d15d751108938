import { useState, type FormEvent } from 'react';
import { api, type Day, apiPath } from '../api';
import { useT } from '../i18n';
import { BarChart, ErrorBox, Field, useAsync } from '../ui';

interface Daily {
  timezone: string;
  from: string;
  to: string;
  items: Day[];
}

export function StatsPage({ appId }: { appId: string }) {
  const t = useT();
  const [range, setRange] = useState({ from: '', to: '' });
  const [applied, setApplied] = useState(range);
  const daily = useAsync(
    () =>
      api.get<Daily>(apiPath`/apps/${appId}/stats/daily`, {
        from: applied.from || undefined,
        to: applied.to || undefined,
      }),
    [appId, applied],
  );
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setApplied(range);
  };
  const days = daily.data?.items ?? [];
  const byDate = new Map(days.map((d) => [d.date, d]));
  const value = (date: string, key: string) => Number(byDate.get(date)?.[key as keyof Day] ?? 0);
  return (
    <section aria-labelledby="stats-title">
      <h1 id="stats-title">{t('daily')}</h1>
      <form className="card filters" onSubmit={submit} aria-label={t('filter')}>
        <Field label={t('from')}>
          <input
            type="date"
            value={range.from}
            onChange={(e) => setRange({ ...range, from: e.target.value })}
          />
        </Field>
        <Field label={t('to')}>
          <input type="date" value={range.to} onChange={(e) => setRange({ ...range, to: e.target.value })} />
        </Field>
        <button type="submit">{t('apply')}</button>
      </form>
      <ErrorBox error={daily.error} />
      {daily.data && (
        <>
          <p className="hint">
            {daily.data.from} → {daily.data.to} ({daily.data.timezone})
          </p>
          <BarChart
            title={t('deliveryChart')}
            groups={days.map((d) => d.date)}
            series={(['sent', 'delivered', 'clicked', 'failed'] as const).map((k) => ({
              key: k,
              label: t(k),
            }))}
            values={value}
          />
          <BarChart
            title={t('deviceChart')}
            groups={days.map((d) => d.date)}
            series={[
              { key: 'new_devices', label: t('newDevices') },
              { key: 'active_devices', label: t('activeDevices') },
            ]}
            values={value}
          />
        </>
      )}
    </section>
  );
}
