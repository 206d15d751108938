import { isIP } from 'node:net';
import { Injectable } from '@nestjs/common';

export interface Region {
  country: string;
  province: string | null;
  city: string | null;
}

type GeoIpLite = { lookup(ip: string): { country: string; region: string; city: string } | null };

const PRIVATE_V4 = [
  /^10\./,
  /^127\./,
  /^169\.254\./,
  /^192\.168\./,
  /^172\.(1[6-9]|2\d|3[01])\./,
  /^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\./,
  /^0\./,
];
const PRIVATE_V6 = [/^::1$/, /^fe[89ab][0-9a-f]:/i, /^f[cd][0-9a-f]{2}:/i, /^::$/];

/**
 * Region from the client address, offline: the GeoLite data shipped inside the `geoip-lite` npm
 * package (nothing is downloaded at run time). It is loaded on the first lookup, not at boot, since it
 * costs ~110 MB of memory and most devices report their region themselves.
 */
@Injectable()
export class GeoIpService {
  private db?: GeoIpLite;

  lookup(address: string | undefined): Region | null {
    if (!address) return null;
    const ip = address.startsWith('::ffff:') ? address.slice(7) : address;
    const family = isIP(ip);
    if (family === 0) return null;
    if ((family === 4 ? PRIVATE_V4 : PRIVATE_V6).some((re) => re.test(ip))) return null;
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- deliberately lazy, see above
    this.db ??= require('geoip-lite') as GeoIpLite;
    const hit = this.db.lookup(ip);
    if (!hit || !hit.country) return null;
    return {
      country: hit.country,
      province: hit.region ? `${hit.country}-${hit.region}` : null,
      city: hit.city || null,
    };
  }
}
