/**
 * A sortable text form of an app version, so `app_version` filters compare as semantic versions with
 * an ordinary b-tree index (`devices.app_version_key`).
 *
 * Format (every character is ASCII, so compare it byte-wise — `COLLATE "C"`; linguistic collations
 * skip punctuation and would misorder it):
 *
 *   MMMMMMMMMM.mmmmmmmmmm.pppppppppp~           a release: major, minor, patch zero-padded to 10 digits
 *   MMMMMMMMMM.mmmmmmmmmm.pppppppppp-ID!ID…     a pre-release: each identifier encoded as
 *                                               `0` + 10-digit number (numeric) or `1` + text (other)
 *
 * Why it sorts like SemVer 2.0.0 §11: the core has a fixed width; `-` (0x2D) < `~` (0x7E), so a
 * pre-release sorts before its release; numeric identifiers (`0…`) sort before alphanumeric ones
 * (`1…`) and among themselves by value (fixed width); `!` (0x21) is below every identifier character
 * ([0-9A-Za-z-]), so `alpha` < `alpha.1` < `alpha-x` < `alphabet`. Missing minor or patch parts are 0
 * (`2` = `2.0` = `2.0.0`); build metadata (`+…`) is ignored, as SemVer says; a leading `v` is accepted
 * because apps often send one.
 *
 * Returns null for anything that is not such a version (too many parts, numbers over 10 digits, stray
 * characters): such a device never matches an `app_version` condition.
 */
const VERSION =
  /^[vV]?(\d{1,10})(?:\.(\d{1,10}))?(?:\.(\d{1,10}))?(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

const MAX_VERSION_LENGTH = 128;

const pad = (digits: string) => digits.replace(/^0+(?=\d)/, '').padStart(10, '0');

export function appVersionKey(version: string): string | null {
  const text = version.trim();
  if (text.length === 0 || text.length > MAX_VERSION_LENGTH) return null;
  const m = VERSION.exec(text);
  if (!m) return null;
  const core = `${pad(m[1])}.${pad(m[2] ?? '0')}.${pad(m[3] ?? '0')}`;
  if (m[4] === undefined) return `${core}~`;
  const ids: string[] = [];
  for (const id of m[4].split('.')) {
    if (/^\d+$/.test(id)) {
      if (id.replace(/^0+(?=\d)/, '').length > 10) return null;
      ids.push(`0${pad(id)}`);
    } else {
      ids.push(`1${id}`);
    }
  }
  return `${core}-${ids.join('!')}`;
}
