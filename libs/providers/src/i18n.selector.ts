import type { JPushLocalized } from './jpush.types';

/**
 * Picks the per-language content for a device: the exact tag, then ever shorter prefixes of it down to
 * the primary language (`zh-hans-cn` → `zh-hans` → `zh`), else none (the caller falls back to the
 * default alert). Device languages are stored lower-cased; request keys are compared lower-cased too.
 */
export function selectLocalized(
  i18n: Record<string, JPushLocalized> | undefined,
  deviceLanguage: string | undefined,
): JPushLocalized | undefined {
  if (!i18n || !deviceLanguage) return undefined;
  const byTag = new Map<string, JPushLocalized>();
  for (const [tag, content] of Object.entries(i18n)) byTag.set(tag.toLowerCase(), content);
  let tag = deviceLanguage.toLowerCase().replace(/_/g, '-');
  for (;;) {
    const hit = byTag.get(tag);
    if (hit) return hit;
    const cut = tag.lastIndexOf('-');
    if (cut <= 0) return undefined;
    tag = tag.slice(0, cut);
  }
}
