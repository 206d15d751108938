import { useEffect, useId, useMemo, useRef, useState, type FormEvent } from 'react';
import { createPortal } from 'react-dom';
import { api, type Page, type Segment, type Validation, apiPath } from '../api';
import { useSession } from '../App';
import { useT, type Key } from '../i18n';
import { navigate } from '../router';
import { ErrorBox, Field, useAsync } from '../ui';

// ---- the audience filter tree -------------------------------------------------------------------

type LeafField =
  | 'tag'
  | 'tag_and'
  | 'alias'
  | 'registration_id'
  | 'platform'
  | 'channel'
  | 'language'
  | 'country'
  | 'province'
  | 'city'
  | 'app_version'
  | 'last_active'
  | 'inactive';
type Cmp = 'gte' | 'gt' | 'lte' | 'lt' | 'eq';

export type FilterNode =
  | { kind: 'group'; id: number; op: 'and' | 'or'; not: boolean; children: FilterNode[] }
  | { kind: 'leaf'; id: number; field: LeafField; value: string; cmp: Cmp };

let nextId = 1;
const group = (): FilterNode => ({ kind: 'group', id: nextId++, op: 'and', not: false, children: [] });
const leaf = (): FilterNode => ({ kind: 'leaf', id: nextId++, field: 'language', value: '', cmp: 'gte' });

const FIELD_LABEL: Record<LeafField, Key> = {
  tag: 'tags',
  tag_and: 'tagsAnd',
  alias: 'aliases',
  registration_id: 'registrationIds',
  platform: 'platform',
  channel: 'channel',
  language: 'language',
  country: 'country',
  province: 'province',
  city: 'city',
  app_version: 'appVersion',
  last_active: 'lastActive',
  inactive: 'inactive',
};

export const splitList = (s: string) =>
  s
    .split(/[,，\n]/)
    .map((x) => x.trim())
    .filter(Boolean);

/** The tree as Herald's `audience.filter` (docs/api-guide.md); empty parts are left out. */
export function toFilter(node: FilterNode): unknown {
  if (node.kind === 'group') {
    const parts = node.children.map(toFilter).filter((x) => x !== undefined);
    if (parts.length === 0) return undefined;
    const inner = parts.length === 1 ? parts[0] : { [node.op]: parts };
    return node.not ? { not: inner } : inner;
  }
  const v = node.value.trim();
  if (!v) return undefined;
  if (node.field === 'app_version') return { app_version: { [node.cmp]: v } };
  if (node.field === 'last_active') return { last_active: { within_days: Number(v) } };
  if (node.field === 'inactive') return { last_active: { not_within_days: Number(v) } };
  const values = splitList(v);
  return { [node.field]: node.field === 'country' ? values.map((c) => c.toUpperCase()) : values };
}

function update(node: FilterNode, id: number, fn: (n: FilterNode) => FilterNode | null): FilterNode | null {
  if (node.id === id) return fn(node);
  if (node.kind === 'leaf') return node;
  return {
    ...node,
    children: node.children.map((c) => update(c, id, fn)).filter((c): c is FilterNode => c !== null),
  };
}

function FilterEditor({
  node,
  onChange,
  depth = 0,
}: {
  node: FilterNode;
  onChange: (id: number, fn: (n: FilterNode) => FilterNode | null) => void;
  depth?: number;
}) {
  const t = useT();
  if (node.kind === 'leaf') {
    const numeric = node.field === 'last_active' || node.field === 'inactive';
    return (
      <li className="leaf">
        <label className="inline">
          <span className="sr-only">{t('field')}</span>
          <select
            aria-label={t('field')}
            value={node.field}
            onChange={(e) =>
              onChange(node.id, (n) => ({ ...n, field: e.target.value as LeafField }) as FilterNode)
            }
          >
            {(Object.keys(FIELD_LABEL) as LeafField[]).map((f) => (
              <option key={f} value={f}>
                {t(FIELD_LABEL[f])}
              </option>
            ))}
          </select>
        </label>
        {node.field === 'app_version' && (
          <select
            aria-label={t('appVersion')}
            value={node.cmp}
            onChange={(e) => onChange(node.id, (n) => ({ ...n, cmp: e.target.value as Cmp }) as FilterNode)}
          >
            <option value="gte">≥</option>
            <option value="gt">&gt;</option>
            <option value="lte">≤</option>
            <option value="lt">&lt;</option>
            <option value="eq">=</option>
          </select>
        )}
        <label className="inline grow">
          <span className="sr-only">{t('value')}</span>
          <input
            aria-label={`${t(FIELD_LABEL[node.field])} ${t('value')}`}
            type={numeric ? 'number' : 'text'}
            min={numeric ? 1 : undefined}
            placeholder={numeric ? '7' : t('commaList')}
            value={node.value}
            onChange={(e) => onChange(node.id, (n) => ({ ...n, value: e.target.value }) as FilterNode)}
          />
        </label>
        <button type="button" className="small secondary" onClick={() => onChange(node.id, () => null)}>
          {t('removeCondition')}
        </button>
      </li>
    );
  }
  const addTo = (child: FilterNode) =>
    onChange(node.id, (n) => (n.kind === 'group' ? { ...n, children: [...n.children, child] } : n));
  return (
    <li className="group">
      <div className="row">
        <select
          aria-label={t('filter')}
          value={node.op}
          onChange={(e) =>
            onChange(node.id, (n) => ({ ...n, op: e.target.value as 'and' | 'or' }) as FilterNode)
          }
        >
          <option value="and">{t('matchAll')}</option>
          <option value="or">{t('matchAny')}</option>
        </select>
        <label className="inline">
          <input
            type="checkbox"
            checked={node.not}
            onChange={(e) => onChange(node.id, (n) => ({ ...n, not: e.target.checked }) as FilterNode)}
          />
          {t('negate')}
        </label>
        <button type="button" className="small" onClick={() => addTo(leaf())}>
          {t('addCondition')}
        </button>
        {depth < 3 && (
          <button type="button" className="small secondary" onClick={() => addTo(group())}>
            {t('addGroup')}
          </button>
        )}
        {depth > 0 && (
          <button type="button" className="small secondary" onClick={() => onChange(node.id, () => null)}>
            {t('removeCondition')}
          </button>
        )}
      </div>
      {node.children.length > 0 && (
        <ul className="filter-list">
          {node.children.map((c) => (
            <FilterEditor key={c.id} node={c} onChange={onChange} depth={depth + 1} />
          ))}
        </ul>
      )}
    </li>
  );
}

// ---- the compose form ---------------------------------------------------------------------------

interface Translation {
  lang: string;
  alert: string;
  title: string;
}

export interface ComposeState {
  ios: boolean;
  android: boolean;
  alert: string;
  iosTitle: string;
  iosSubtitle: string;
  badge: string;
  sound: string;
  androidTitle: string;
  channelId: string;
  priority: string;
  extras: string;
  i18n: Translation[];
  msgContent: string;
  msgTitle: string;
  ttl: string;
  bigPush: string;
  apnsProduction: '' | 'true' | 'false';
  everyone: boolean;
  tags: string;
  tagsAnd: string;
  tagsNot: string;
  aliases: string;
  rids: string;
  segments: string[];
  filter: FilterNode;
}

const initial = (): ComposeState => ({
  ios: true,
  android: true,
  alert: '',
  iosTitle: '',
  iosSubtitle: '',
  badge: '',
  sound: '',
  androidTitle: '',
  channelId: '',
  priority: '',
  extras: '',
  i18n: [],
  msgContent: '',
  msgTitle: '',
  ttl: '',
  bigPush: '',
  apnsProduction: '',
  everyone: true,
  tags: '',
  tagsAnd: '',
  tagsNot: '',
  aliases: '',
  rids: '',
  segments: [],
  filter: group(),
});

const LIMITS: Record<string, number> = { apns: 4096, fcm: 4096, gateway: 63 * 1024 };

/** The form as a `/v3/push` body. `placeholder` stands in for content not written yet (estimates). */
export function buildPush(s: ComposeState, placeholder = false): Record<string, unknown> {
  const platforms = [s.ios && 'ios', s.android && 'android'].filter(Boolean);
  let extras: unknown;
  if (s.extras.trim()) extras = JSON.parse(s.extras) as unknown;
  const hasNotification =
    s.alert.trim() !== '' || s.i18n.some((x) => x.alert.trim()) || (placeholder && !s.msgContent.trim());
  const ios: Record<string, unknown> = {};
  if (s.iosTitle || s.iosSubtitle) {
    ios.alert = {
      ...(s.iosTitle && { title: s.iosTitle }),
      ...(s.iosSubtitle && { subtitle: s.iosSubtitle }),
      body: s.alert,
    };
  }
  if (s.badge) ios.badge = /^\d+$/.test(s.badge) ? Number(s.badge) : s.badge;
  if (s.sound) ios.sound = s.sound;
  if (extras) ios.extras = extras;
  const android: Record<string, unknown> = {};
  if (s.androidTitle) android.title = s.androidTitle;
  if (s.channelId) android.channel_id = s.channelId;
  if (s.priority) android.priority = Number(s.priority);
  if (extras) android.extras = extras;
  const i18n = Object.fromEntries(
    s.i18n
      .filter((x) => x.lang.trim() && (x.alert.trim() || x.title.trim()))
      .map((x) => [
        x.lang.trim().toLowerCase(),
        { ...(x.alert && { alert: x.alert }), ...(x.title && { title: x.title }) },
      ]),
  );
  const notification = hasNotification
    ? {
        alert: s.alert.trim() || (placeholder ? 'x' : s.alert),
        ...(Object.keys(ios).length && s.ios && { ios }),
        ...(Object.keys(android).length && s.android && { android }),
        ...(Object.keys(i18n).length && { i18n }),
      }
    : undefined;
  const message = s.msgContent.trim()
    ? { msg_content: s.msgContent, ...(s.msgTitle && { title: s.msgTitle }) }
    : undefined;
  const filter = toFilter(s.filter);
  const lists: [string, string[]][] = [
    ['tag', splitList(s.tags)],
    ['tag_and', splitList(s.tagsAnd)],
    ['tag_not', splitList(s.tagsNot)],
    ['alias', splitList(s.aliases)],
    ['registration_id', splitList(s.rids)],
    ['segment', s.segments],
  ];
  const audience = s.everyone
    ? 'all'
    : {
        ...Object.fromEntries(lists.filter(([, v]) => v.length > 0)),
        ...(filter !== undefined && { filter }),
      };
  const options: Record<string, unknown> = {};
  if (s.ttl) options.time_to_live = Number(s.ttl);
  if (s.bigPush) options.big_push_duration = Number(s.bigPush);
  if (s.apnsProduction) options.apns_production = s.apnsProduction === 'true';
  return {
    platform: platforms.length === 2 ? 'all' : platforms,
    audience,
    ...(notification && { notification }),
    ...(message && { message }),
    ...(Object.keys(options).length && { options }),
  };
}

type When = 'now' | 'once' | 'recurring';

const jpushTime = (local: string) =>
  local.length === 16 ? `${local.replace('T', ' ')}:00` : local.replace('T', ' ');

export function ComposePage({ appId }: { appId: string }) {
  const t = useT();
  const { can } = useSession();
  const [s, setS] = useState<ComposeState>(initial);
  const set = <K extends keyof ComposeState>(k: K, v: ComposeState[K]) => setS((x) => ({ ...x, [k]: v }));
  const segments = useAsync(
    () => api.get<Page<Segment>>(apiPath`/apps/${appId}/segments`, { limit: 200 }),
    [appId],
  );
  const [estimate, setEstimate] = useState<{ data?: Validation; error?: unknown; pending: boolean }>({
    pending: false,
  });
  const [when, setWhen] = useState<When>('now');
  const [name, setName] = useState('');
  const [onceAt, setOnceAt] = useState('');
  const [period, setPeriod] = useState({
    start: '',
    end: '',
    time: '09:00',
    unit: 'day',
    frequency: '1',
    point: '',
  });
  const [localTime, setLocalTime] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  // "Send now" is a second, explicit step: the form's submit (a click, or Enter in any field) only asks.
  const [confirming, setConfirming] = useState(false);
  const idempotencyKey = useRef(crypto.randomUUID());
  const hasContent =
    s.alert.trim() !== '' || s.msgContent.trim() !== '' || s.i18n.some((x) => x.alert.trim());

  const body = useMemo(() => {
    try {
      return { value: buildPush(s, true) };
    } catch (err) {
      return { error: err };
    }
  }, [s]);
  const bodyKey = JSON.stringify(body.value ?? null);
  // What was confirmed is what is sent: any change asks again.
  useEffect(() => setConfirming(false), [bodyKey, when]);

  // The live estimate: /push/validate a moment after the last change, so typing does not flood it.
  useEffect(() => {
    if (!body.value) {
      setEstimate({ error: body.error, pending: false });
      return;
    }
    let live = true;
    setEstimate((e) => ({ ...e, pending: true }));
    const timer = setTimeout(() => {
      api
        .post<Validation>(apiPath`/apps/${appId}/push/validate`, body.value)
        .then((data) => live && setEstimate({ data, pending: false }))
        .catch((error: unknown) => live && setEstimate({ error, pending: false }));
    }, 350);
    return () => {
      live = false;
      clearTimeout(timer);
    };
    // bodyKey stands for body.value, compared by content.
  }, [appId, bodyKey]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    // Another form's submit (the segment's, rendered elsewhere) reaches here through React's tree.
    if (e.target !== e.currentTarget) return;
    setError(null);
    if (when === 'now') setConfirming(true);
    else void send();
  };

  const send = async () => {
    setError(null);
    setBusy(true);
    try {
      const push = buildPush(s);
      if (when === 'now') {
        const res = await api.post<{ msg_id: string }>(apiPath`/apps/${appId}/push`, push, {
          'Idempotency-Key': idempotencyKey.current,
        });
        idempotencyKey.current = crypto.randomUUID();
        navigate(`/apps/${appId}/messages/${res.msg_id}`);
        return;
      }
      const trigger =
        when === 'once'
          ? { single: { time: jpushTime(onceAt) } }
          : {
              periodical: {
                start: jpushTime(period.start),
                end: jpushTime(period.end),
                time: `${period.time}:00`,
                time_unit: period.unit,
                frequency: Number(period.frequency),
                ...(period.unit !== 'day' && period.point && { point: splitList(period.point) }),
              },
            };
      const withLocal = localTime
        ? { ...push, options: { ...((push.options as object | undefined) ?? {}), local_time: true } }
        : push;
      await api.post(apiPath`/apps/${appId}/campaigns`, { name, push: withLocal, trigger });
      navigate(`/apps/${appId}/campaigns`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  if (!can('push.send')) return <p className="note">{t('viewerNote')}</p>;
  const filterChange = (id: number, fn: (n: FilterNode) => FilterNode | null) =>
    setS((x) => ({ ...x, filter: update(x.filter, id, fn) ?? group() }));

  return (
    <form onSubmit={submit} aria-labelledby="compose-title" className="compose">
      <h1 id="compose-title">{t('compose')}</h1>
      <div className="compose-grid">
        <div>
          <fieldset className="card">
            <legend>{t('platform')}</legend>
            <label className="inline">
              <input type="checkbox" checked={s.ios} onChange={(e) => set('ios', e.target.checked)} />{' '}
              {t('ios')}
            </label>
            <label className="inline">
              <input type="checkbox" checked={s.android} onChange={(e) => set('android', e.target.checked)} />{' '}
              {t('android')}
            </label>
          </fieldset>

          <fieldset className="card">
            <legend>{t('notification')}</legend>
            <Field label={t('alert')}>
              <textarea rows={2} value={s.alert} onChange={(e) => set('alert', e.target.value)} />
            </Field>
            <details>
              <summary>{t('ios')}</summary>
              <div className="grid">
                <Field label={`${t('ios')} ${t('title')}`}>
                  <input value={s.iosTitle} onChange={(e) => set('iosTitle', e.target.value)} />
                </Field>
                <Field label={t('subtitle')}>
                  <input value={s.iosSubtitle} onChange={(e) => set('iosSubtitle', e.target.value)} />
                </Field>
                <Field label={t('badge')}>
                  <input value={s.badge} onChange={(e) => set('badge', e.target.value)} />
                </Field>
                <Field label={t('sound')}>
                  <input value={s.sound} onChange={(e) => set('sound', e.target.value)} />
                </Field>
              </div>
            </details>
            <details>
              <summary>{t('android')}</summary>
              <div className="grid">
                <Field label={`${t('android')} ${t('title')}`}>
                  <input value={s.androidTitle} onChange={(e) => set('androidTitle', e.target.value)} />
                </Field>
                <Field label={t('channelId')}>
                  <input value={s.channelId} onChange={(e) => set('channelId', e.target.value)} />
                </Field>
                <Field label={t('priority')}>
                  <select value={s.priority} onChange={(e) => set('priority', e.target.value)}>
                    <option value="">—</option>
                    {['-2', '-1', '0', '1', '2'].map((p) => (
                      <option key={p} value={p}>
                        {p}
                      </option>
                    ))}
                  </select>
                </Field>
              </div>
            </details>
            <Field label={t('extras')}>
              <input
                value={s.extras}
                onChange={(e) => set('extras', e.target.value)}
                placeholder='{"url": "…"}'
              />
            </Field>
            <div className="subcard">
              <h3>{t('translations')}</h3>
              {s.i18n.map((row, i) => (
                <div className="grid" key={i}>
                  <Field label={t('languageTag')}>
                    <input
                      value={row.lang}
                      onChange={(e) =>
                        set(
                          'i18n',
                          s.i18n.map((r, j) => (j === i ? { ...r, lang: e.target.value } : r)),
                        )
                      }
                    />
                  </Field>
                  <Field label={`${t('alert')} (${row.lang || '…'})`}>
                    <input
                      value={row.alert}
                      onChange={(e) =>
                        set(
                          'i18n',
                          s.i18n.map((r, j) => (j === i ? { ...r, alert: e.target.value } : r)),
                        )
                      }
                    />
                  </Field>
                  <Field label={`${t('title')} (${row.lang || '…'})`}>
                    <input
                      value={row.title}
                      onChange={(e) =>
                        set(
                          'i18n',
                          s.i18n.map((r, j) => (j === i ? { ...r, title: e.target.value } : r)),
                        )
                      }
                    />
                  </Field>
                  <button
                    type="button"
                    className="small secondary"
                    onClick={() =>
                      set(
                        'i18n',
                        s.i18n.filter((_, j) => j !== i),
                      )
                    }
                  >
                    {t('removeCondition')}
                  </button>
                </div>
              ))}
              <button
                type="button"
                className="small"
                onClick={() => set('i18n', [...s.i18n, { lang: '', alert: '', title: '' }])}
              >
                {t('addLanguage')}
              </button>
            </div>
          </fieldset>

          <fieldset className="card">
            <legend>{t('customMessage')}</legend>
            <div className="grid">
              <Field label={t('content')}>
                <input value={s.msgContent} onChange={(e) => set('msgContent', e.target.value)} />
              </Field>
              <Field label={`${t('customMessage')} ${t('title')}`}>
                <input value={s.msgTitle} onChange={(e) => set('msgTitle', e.target.value)} />
              </Field>
            </div>
          </fieldset>

          <fieldset className="card">
            <legend>{t('audience')}</legend>
            <label className="inline">
              <input type="radio" name="aud" checked={s.everyone} onChange={() => set('everyone', true)} />{' '}
              {t('everyone')}
            </label>
            <label className="inline">
              <input type="radio" name="aud" checked={!s.everyone} onChange={() => set('everyone', false)} />{' '}
              {t('custom')}
            </label>
            {!s.everyone && (
              <>
                <div className="grid">
                  <Field label={t('tags')} hint={t('commaList')}>
                    <input value={s.tags} onChange={(e) => set('tags', e.target.value)} />
                  </Field>
                  <Field label={t('tagsAnd')} hint={t('commaList')}>
                    <input value={s.tagsAnd} onChange={(e) => set('tagsAnd', e.target.value)} />
                  </Field>
                  <Field label={t('tagsNot')} hint={t('commaList')}>
                    <input value={s.tagsNot} onChange={(e) => set('tagsNot', e.target.value)} />
                  </Field>
                  <Field label={t('aliases')} hint={t('commaList')}>
                    <input value={s.aliases} onChange={(e) => set('aliases', e.target.value)} />
                  </Field>
                  <Field label={t('registrationIds')} hint={t('commaList')}>
                    <input value={s.rids} onChange={(e) => set('rids', e.target.value)} />
                  </Field>
                </div>
                {(segments.data?.items.length ?? 0) > 0 && (
                  <fieldset>
                    <legend>{t('segments')}</legend>
                    {segments.data?.items.map((seg) => (
                      <label className="inline" key={seg.id}>
                        <input
                          type="checkbox"
                          checked={s.segments.includes(seg.id)}
                          onChange={(e) =>
                            set(
                              'segments',
                              e.target.checked
                                ? [...s.segments, seg.id]
                                : s.segments.filter((x) => x !== seg.id),
                            )
                          }
                        />
                        {seg.name}
                      </label>
                    ))}
                  </fieldset>
                )}
                <h3>{t('filter')}</h3>
                <ul className="filter-list root">
                  <FilterEditor node={s.filter} onChange={filterChange} />
                </ul>
                {can('segments.write') && toFilter(s.filter) !== undefined && (
                  <SaveSegment
                    appId={appId}
                    filter={toFilter(s.filter)}
                    onSaved={() => void segments.reload()}
                  />
                )}
              </>
            )}
          </fieldset>

          <fieldset className="card">
            <legend>{t('options')}</legend>
            <div className="grid">
              <Field label={t('ttl')}>
                <input
                  type="number"
                  min={0}
                  max={864000}
                  value={s.ttl}
                  onChange={(e) => set('ttl', e.target.value)}
                  placeholder="86400"
                />
              </Field>
              <Field label={t('bigPush')}>
                <input
                  type="number"
                  min={1}
                  max={1400}
                  value={s.bigPush}
                  onChange={(e) => set('bigPush', e.target.value)}
                />
              </Field>
              <Field label={t('apnsEnv')}>
                <select
                  value={s.apnsProduction}
                  onChange={(e) => set('apnsProduction', e.target.value as ComposeState['apnsProduction'])}
                >
                  <option value="">{t('apnsEnvDevice')}</option>
                  <option value="true">{t('production')}</option>
                  <option value="false">{t('sandbox')}</option>
                </select>
              </Field>
            </div>
          </fieldset>

          <fieldset className="card">
            <legend>{t('when')}</legend>
            {(
              [
                ['now', 'now'],
                ['once', 'onceOption'],
                ['recurring', 'recurring'],
              ] as const
            ).map(([w, key]) => (
              <label className="inline" key={w}>
                <input type="radio" name="when" checked={when === w} onChange={() => setWhen(w)} /> {t(key)}
              </label>
            ))}
            {when !== 'now' && (
              <div className="grid">
                <Field label={t('campaignName')}>
                  <input required value={name} onChange={(e) => setName(e.target.value)} />
                </Field>
                {when === 'once' && (
                  <Field label={t('once')}>
                    <input
                      type="datetime-local"
                      required
                      value={onceAt}
                      onChange={(e) => setOnceAt(e.target.value)}
                    />
                  </Field>
                )}
                {when === 'recurring' && (
                  <>
                    <Field label={t('start')}>
                      <input
                        type="datetime-local"
                        required
                        value={period.start}
                        onChange={(e) => setPeriod({ ...period, start: e.target.value })}
                      />
                    </Field>
                    <Field label={t('end')}>
                      <input
                        type="datetime-local"
                        required
                        value={period.end}
                        onChange={(e) => setPeriod({ ...period, end: e.target.value })}
                      />
                    </Field>
                    <Field label={t('time')}>
                      <input
                        type="time"
                        required
                        value={period.time}
                        onChange={(e) => setPeriod({ ...period, time: e.target.value })}
                      />
                    </Field>
                    <Field label={t('every')}>
                      <input
                        type="number"
                        min={1}
                        max={100}
                        value={period.frequency}
                        onChange={(e) => setPeriod({ ...period, frequency: e.target.value })}
                      />
                    </Field>
                    <Field label={t('unit')}>
                      <select
                        value={period.unit}
                        onChange={(e) => setPeriod({ ...period, unit: e.target.value })}
                      >
                        <option value="day">{t('day')}</option>
                        <option value="week">{t('week')}</option>
                        <option value="month">{t('month')}</option>
                      </select>
                    </Field>
                    {period.unit !== 'day' && (
                      <Field label={t('points')}>
                        <input
                          value={period.point}
                          onChange={(e) => setPeriod({ ...period, point: e.target.value })}
                        />
                      </Field>
                    )}
                  </>
                )}
                <label className="inline">
                  <input
                    type="checkbox"
                    checked={localTime}
                    onChange={(e) => setLocalTime(e.target.checked)}
                  />{' '}
                  {t('localTime')}
                </label>
              </div>
            )}
          </fieldset>
        </div>

        <aside className="card estimate" aria-labelledby="estimate-title">
          <h2 id="estimate-title">{t('estimate')}</h2>
          <div aria-live="polite" data-testid="estimate">
            {estimate.pending && <p className="hint">{t('checking')}</p>}
            {estimate.data && (
              <>
                <p className="big">
                  <strong data-testid="audience-size">{estimate.data.audience_size}</strong>{' '}
                  {t('devicesMatch')}
                </p>
                <table>
                  <thead>
                    <tr>
                      <th scope="col">{t('channel')}</th>
                      <th scope="col">{t('devices')}</th>
                      <th scope="col">{t('payload')}</th>
                    </tr>
                  </thead>
                  <tbody>
                    {(['apns', 'fcm', 'gateway'] as const).map((c) => {
                      const ch = estimate.data?.channels[c];
                      const bytes = ch?.payload_bytes ?? null;
                      const over = bytes !== null && bytes > LIMITS[c];
                      return (
                        <tr key={c} data-testid={`estimate-${c}`}>
                          <th scope="row">{c.toUpperCase()}</th>
                          <td>{ch?.count ?? 0}</td>
                          <td className={over ? 'bad' : undefined}>
                            {hasContent && bytes !== null ? `${bytes} / ${LIMITS[c]} B` : '—'}
                            {over && ` (${t('tooLarge')})`}
                          </td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </>
            )}
            {!hasContent && <p className="hint">{t('estimateHint')}</p>}
            <ErrorBox error={estimate.error} />
          </div>
          <ErrorBox error={error} />
          {confirming ? (
            <div className="confirm" role="group" aria-labelledby="confirm-send">
              <p id="confirm-send">
                <strong>{t('confirmSendPrompt')}</strong>{' '}
                {estimate.pending || !estimate.data ? (
                  t('checking')
                ) : (
                  <span data-testid="confirm-size">
                    {estimate.data.audience_size} {t('devicesMatch')}
                  </span>
                )}
              </p>
              <div className="row">
                <button type="button" disabled={busy || !hasContent} onClick={() => void send()}>
                  {busy ? t('sending') : t('confirmSend')}
                </button>
                {/* Focus lands on the harmless choice: a second Enter does not send. */}
                <button type="button" className="secondary" autoFocus onClick={() => setConfirming(false)}>
                  {t('cancel')}
                </button>
              </div>
            </div>
          ) : (
            <button type="submit" disabled={busy || !hasContent}>
              {busy ? t('sending') : when === 'now' ? t('sendNow') : t('schedule')}
            </button>
          )}
        </aside>
      </div>
    </form>
  );
}

function SaveSegment({ appId, filter, onSaved }: { appId: string; filter: unknown; onSaved: () => void }) {
  const t = useT();
  const [name, setName] = useState('');
  const [error, setError] = useState<unknown>(null);
  // Its own form, outside the compose form (forms do not nest): Enter in the name saves the segment.
  const formId = useId();
  const save = async () => {
    setError(null);
    try {
      await api.post(apiPath`/apps/${appId}/segments`, { name, filter });
      setName('');
      onSaved();
    } catch (err) {
      setError(err);
    }
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    e.stopPropagation();
    if (name.trim()) void save();
  };
  return (
    <div className="row">
      {createPortal(<form id={formId} hidden onSubmit={submit} />, document.body)}
      <label className="inline">
        <span className="sr-only">{t('segments')}</span>
        <input
          form={formId}
          aria-label={`${t('segments')} ${t('name')}`}
          placeholder={t('name')}
          value={name}
          onChange={(e) => setName(e.target.value)}
        />
      </label>
      <button type="submit" form={formId} className="small secondary" disabled={!name.trim()}>
        {t('saveSegment')}
      </button>
      <ErrorBox error={error} />
    </div>
  );
}
