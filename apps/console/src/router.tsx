import { useEffect, useState, type AnchorHTMLAttributes, type MouseEvent } from 'react';

export { match } from './route';

/** A tiny history router: the console lives under /console; the api answers index.html for any path. */
export const BASE = '/console';

function current(): string {
  const p = window.location.pathname;
  const path = p.startsWith(BASE) ? p.slice(BASE.length) : p;
  return path === '' ? '/' : path;
}

export function navigate(path: string, replace = false): void {
  const url = BASE + path;
  if (replace) window.history.replaceState(null, '', url);
  else window.history.pushState(null, '', url);
  window.dispatchEvent(new PopStateEvent('popstate'));
  window.scrollTo(0, 0);
}

export function usePath(): string {
  const [path, setPath] = useState(current);
  useEffect(() => {
    const on = () => setPath(current());
    window.addEventListener('popstate', on);
    return () => window.removeEventListener('popstate', on);
  }, []);
  return path;
}

export function Link({ to, ...rest }: { to: string } & AnchorHTMLAttributes<HTMLAnchorElement>) {
  const onClick = (e: MouseEvent<HTMLAnchorElement>) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return <a href={BASE + to} onClick={onClick} {...rest} />;
}
