/**
 * `match('/apps/:id/messages/:mid', path)` → `{id, mid}` (decoded), or null when the path is not
 * this pattern's — or a parameter is not valid percent-encoding (a crafted link is a page not found,
 * not a blank page).
 */
export function match(pattern: string, path: string): Record<string, string> | null {
  const trim = (p: string) => (p.length > 1 ? p.replace(/\/$/, '') : p);
  const a = trim(pattern).split('/');
  const b = trim(path).split('/');
  if (a.length !== b.length) return null;
  const out: Record<string, string> = {};
  for (let i = 0; i < a.length; i++) {
    if (a[i].startsWith(':')) {
      try {
        out[a[i].slice(1)] = decodeURIComponent(b[i]);
      } catch {
        return null;
      }
    } else if (a[i] !== b[i]) return null;
  }
  return out;
}
