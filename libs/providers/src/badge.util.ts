/**
 * JPush's `ios.badge`: a number (or a digit string) sets the badge, `"+N"` / `"-N"` change the
 * count Herald keeps per device, `0` clears it. Returns the badge to put in the payload and the value
 * the caller must persist for the device; `undefined` means "leave the badge alone".
 */
export function nextBadge(spec: number | string | undefined, storedBadge: number): number | undefined {
  if (spec === undefined || spec === '') return undefined;
  if (typeof spec === 'number') return clampBadge(spec);
  const relative = /^([+-])(\d+)$/.exec(spec.trim());
  if (relative) {
    const delta = Number(relative[2]) * (relative[1] === '-' ? -1 : 1);
    return clampBadge(storedBadge + delta);
  }
  if (/^\d+$/.test(spec.trim())) return clampBadge(Number(spec));
  return undefined;
}

function clampBadge(n: number): number {
  // APNs takes a non-negative integer; iOS shows nothing above 99,999 anyway.
  if (!Number.isFinite(n) || n < 0) return 0;
  return Math.min(Math.trunc(n), 99_999);
}
