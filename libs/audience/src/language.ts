/**
 * One language tag in the form Herald stores and compares: canonical BCP 47 (`Intl.Locale`), then
 * lower-cased. Devices' languages are stored this way on registration and update, and `language`
 * filter values are read this way, so both sides agree: Android still reports some deprecated codes
 * (`in_ID`, `iw`, `tl`, `ji`, `sh`, `mo`), which canonicalise to `id-id`, `he`, `fil`, `yi`,
 * `sr-latn`, `ro` on either side.
 */
export interface LanguageTag {
  /** The whole tag: `zh-Hans-CN` → `zh-hans-cn`, `in_ID` → `id-id`. */
  tag: string;
  language: string;
  script?: string;
  region?: string;
}

/** `Intl.Locale` costs several µs a call, and real tags are a few hundred distinct values. */
const cache = new Map<string, LanguageTag | null>();
const CACHE_SIZE = 10_000;

/**
 * The canonical form of `input` (`_` read as `-`, as Android writes locales), or null if
 * `Intl.Locale` does not take it as a BCP 47 tag.
 */
export function canonicalLanguage(input: string): LanguageTag | null {
  const cached = cache.get(input);
  if (cached !== undefined) return cached;
  const tag = parse(input);
  if (cache.size >= CACHE_SIZE) cache.clear();
  cache.set(input, tag);
  return tag;
}

function parse(input: string): LanguageTag | null {
  let locale: Intl.Locale;
  try {
    locale = new Intl.Locale(input.trim().replace(/_/g, '-'));
  } catch {
    return null;
  }
  return {
    tag: locale.toString().toLowerCase(),
    language: locale.language.toLowerCase(),
    ...(locale.script ? { script: locale.script.toLowerCase() } : {}),
    ...(locale.region ? { region: locale.region.toLowerCase() } : {}),
  };
}
