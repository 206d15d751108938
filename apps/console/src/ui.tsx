import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import { ApiError } from './api';
import { useT } from './i18n';

/** Loads once per change of `deps`; `reload()` fetches again. Stale answers are dropped. */
export function useAsync<T>(fn: () => Promise<T>, deps: unknown[]) {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const seq = useRef(0);
  const run = useCallback(fn, deps);
  const reload = useCallback(async () => {
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    try {
      const data = await run();
      if (mine === seq.current) setState({ data, loading: false });
    } catch (error) {
      if (mine === seq.current) setState({ error, loading: false });
    }
  }, [run]);
  useEffect(() => {
    void reload();
  }, [reload]);
  return { ...state, reload };
}

export function errorText(err: unknown): string[] {
  if (err instanceof ApiError) return err.problems;
  if (err instanceof Error) return [err.message];
  return [String(err)];
}

/** Errors are announced to screen readers and listed one per problem. */
export function ErrorBox({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null;
  const lines = errorText(error);
  return (
    <div className="error" role="alert">
      {lines.length === 1 ? (
        lines[0]
      ) : (
        <ul>
          {lines.map((l) => (
            <li key={l}>{l}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function Field({ label, hint, children }: { label: string; hint?: string; children: ReactNode }) {
  return (
    <div className="field">
      <label>
        <span className="field-label">{label}</span>
        {children}
      </label>
      {hint && <span className="hint">{hint}</span>}
    </div>
  );
}

export function CopyButton({ value, label }: { value: string; label: string }) {
  const t = useT();
  const [done, setDone] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
    } catch {
      // Insecure origins have no clipboard API: select the text so Ctrl-C works.
      const el = document.querySelector<HTMLElement>(`[data-copy="${CSS.escape(value)}"]`);
      if (el) window.getSelection()?.selectAllChildren(el);
    }
    setDone(true);
    setTimeout(() => setDone(false), 1500);
  };
  return (
    <button type="button" className="small" onClick={() => void copy()} aria-label={`${t('copy')} ${label}`}>
      {done ? t('copied') : t('copy')}
    </button>
  );
}

/** A secret shown once: monospace, selectable, with a copy button. */
export function Secret({ label, value }: { label: string; value: string }) {
  return (
    <div className="secret">
      <span className="field-label">{label}</span>
      <code data-copy={value} data-testid={`secret-${label}`}>
        {value}
      </code>
      <CopyButton value={value} label={label} />
    </div>
  );
}

export function ProgressBar({ value, label }: { value: number; label: string }) {
  const v = Math.max(0, Math.min(100, Math.round(value)));
  return (
    <div
      className="progress"
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={v}
    >
      <div className="progress-fill" style={{ width: `${v}%` }} />
      <span className="progress-text">{v}%</span>
    </div>
  );
}

export const COLORS: Record<string, string> = {
  sent: '#1d6fd1',
  delivered: '#1a7f37',
  clicked: '#8250df',
  failed: '#c4320a',
  targets: '#57606a',
  new_devices: '#0a7ea4',
  active_devices: '#9a6700',
  messages: '#57606a',
};

export interface Series {
  key: string;
  label: string;
}

/**
 * Grouped bars drawn as SVG (no chart library: a few rectangles are all the console needs). The
 * figure's table repeats the numbers for screen readers and for anyone who wants exact values.
 */
export function BarChart({
  title,
  groups,
  series,
  values,
}: {
  title: string;
  groups: string[];
  series: Series[];
  values: (group: string, key: string) => number;
}) {
  const max = Math.max(1, ...groups.flatMap((g) => series.map((s) => values(g, s.key))));
  const width = 640;
  const height = 180;
  const groupW = width / Math.max(1, groups.length);
  const barW = Math.max(2, Math.min(28, (groupW - 8) / series.length));
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${width} ${height + 24}`} role="img" aria-label={title}>
        <line x1={0} y1={height} x2={width} y2={height} stroke="#8c959f" />
        {groups.map((g, gi) =>
          series.map((s, si) => {
            const v = values(g, s.key);
            const h = (v / max) * (height - 10);
            const x = gi * groupW + (groupW - barW * series.length) / 2 + si * barW;
            return (
              <rect
                key={`${g}-${s.key}`}
                x={x}
                y={height - h}
                width={barW - 1}
                height={h}
                fill={COLORS[s.key] ?? '#1d6fd1'}
              >
                <title>{`${g} ${s.label}: ${v}`}</title>
              </rect>
            );
          }),
        )}
        {groups.length <= 16 &&
          groups.map((g, gi) => (
            <text
              key={g}
              x={gi * groupW + groupW / 2}
              y={height + 16}
              textAnchor="middle"
              fontSize="11"
              fill="#424a53"
            >
              {g.length > 10 ? g.slice(5) : g}
            </text>
          ))}
      </svg>
      <Legend series={series} />
      <details>
        <summary>{title}</summary>
        <table>
          <thead>
            <tr>
              <th scope="col" />
              {series.map((s) => (
                <th key={s.key} scope="col">
                  {s.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {groups.map((g) => (
              <tr key={g}>
                <th scope="row">{g}</th>
                {series.map((s) => (
                  <td key={s.key}>{values(g, s.key)}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}

export function Legend({ series }: { series: Series[] }) {
  return (
    <ul className="legend">
      {series.map((s) => (
        <li key={s.key}>
          <span className="swatch" style={{ background: COLORS[s.key] ?? '#1d6fd1' }} aria-hidden="true" />
          {s.label}
        </li>
      ))}
    </ul>
  );
}

/** Lines over time (samples taken while watching a message send). */
export function LineChart({
  title,
  points,
  series,
}: {
  title: string;
  points: { t: number; values: Record<string, number> }[];
  series: Series[];
}) {
  if (points.length < 2) return null;
  const width = 640;
  const height = 140;
  const t0 = points[0].t;
  const span = Math.max(1, points[points.length - 1].t - t0);
  const max = Math.max(1, ...points.flatMap((p) => series.map((s) => p.values[s.key] ?? 0)));
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-label={title}>
        {series.map((s) => (
          <polyline
            key={s.key}
            fill="none"
            stroke={COLORS[s.key] ?? '#1d6fd1'}
            strokeWidth={2}
            points={points
              .map(
                (p) =>
                  `${((p.t - t0) / span) * width},${height - ((p.values[s.key] ?? 0) / max) * (height - 6) - 3}`,
              )
              .join(' ')}
          />
        ))}
      </svg>
      <Legend series={series} />
    </figure>
  );
}

export function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : '—';
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}
