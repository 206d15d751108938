import { canonicalLanguage, type LanguageTag } from '@herald/audience';
import { HeraldError } from '@herald/common';

/**
 * Pure normalisation of what devices report, so filters compare like with like: language tags in
 * canonical BCP 47 lower-cased (`zh-Hans-CN` → `zh-hans-cn`: language `zh`, script `hans`, region
 * `cn`), countries as ISO 3166-1 alpha-2 upper-case, provinces as ISO 3166-2 (`CN-GD`) when given as a
 * code, time zones as canonical IANA names.
 */

const regionNames = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'none' });

function invalid(field: string, message: string): HeraldError {
  return new HeraldError('invalid_parameter', `${field}: ${message}`, { jpushCode: 7002 });
}

export type { LanguageTag };

/** The shared canonical form (`canonicalLanguage` in `@herald/audience`), which `language` filters read too. */
export function normaliseLanguage(input: string): LanguageTag {
  const tag = canonicalLanguage(input);
  if (tag === null) throw invalid('language', `"${input.slice(0, 40)}" is not a BCP 47 language tag`);
  return tag;
}

export function normaliseCountry(input: string): string {
  const code = input.trim().toUpperCase();
  // ISO's user-assigned codes (AA, QM–QZ, XA–XZ, ZZ) name no country, though CLDR knows some of them.
  if (
    !/^[A-Z]{2}$/.test(code) ||
    /^(AA|Q[M-Z]|X[A-Z]|ZZ)$/.test(code) ||
    regionNames.of(code) === undefined
  ) {
    throw invalid('country', `"${input.slice(0, 10)}" is not an ISO 3166-1 alpha-2 code`);
  }
  return code;
}

/** `GD` or `CN-GD` with country `CN` → `CN-GD`; a name (`Guangdong`) is kept as given. */
export function normaliseProvince(input: string, country: string | null): string {
  const value = input.trim();
  if (value.length === 0 || value.length > 64) throw invalid('province', 'must be 1-64 characters');
  const code = /^(?:([A-Za-z]{2})-)?([A-Za-z0-9]{1,3})$/.exec(value);
  if (code && country) {
    const prefix = code[1]?.toUpperCase();
    if (prefix && prefix !== country) throw invalid('province', `${value} is not in country ${country}`);
    return `${country}-${code[2].toUpperCase()}`;
  }
  if (code?.[1]) return `${code[1].toUpperCase()}-${code[2].toUpperCase()}`;
  return value;
}

export function normaliseTimezone(input: string): string {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: input.trim() }).resolvedOptions().timeZone;
  } catch {
    throw invalid('timezone', `"${input.slice(0, 64)}" is not an IANA time zone`);
  }
}

export function normaliseCity(input: string): string {
  const value = input.trim();
  if (value.length === 0 || value.length > 128) throw invalid('city', 'must be 1-128 characters');
  return value;
}
