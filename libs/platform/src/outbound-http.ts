import { lookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { Agent, fetch, type RequestInit, type Response } from 'undici';

/**
 * Addresses a tenant's URL must not reach (RFC 6890 special-purpose ranges): this host, private
 * networks, link-local (cloud metadata services live at 169.254.169.254), carrier-grade NAT,
 * documentation, benchmarking, multicast and reserved space; IPv6 loopback, unique-local, link-local,
 * multicast, documentation, and NAT64 forms that could hide any of the IPv4 ones. (IPv4-mapped IPv6
 * addresses, `::ffff:a.b.c.d`, need no rule: `BlockList` checks them against the IPv4 rules.)
 */
const RESERVED: readonly [string, number, 'ipv4' | 'ipv6'][] = [
  ['0.0.0.0', 8, 'ipv4'],
  ['10.0.0.0', 8, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'],
  ['127.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'],
  ['172.16.0.0', 12, 'ipv4'],
  ['192.0.0.0', 24, 'ipv4'],
  ['192.0.2.0', 24, 'ipv4'],
  ['192.88.99.0', 24, 'ipv4'],
  ['192.168.0.0', 16, 'ipv4'],
  ['198.18.0.0', 15, 'ipv4'],
  ['198.51.100.0', 24, 'ipv4'],
  ['203.0.113.0', 24, 'ipv4'],
  ['224.0.0.0', 4, 'ipv4'],
  ['240.0.0.0', 4, 'ipv4'],
  ['::', 128, 'ipv6'],
  ['::1', 128, 'ipv6'],
  ['64:ff9b::', 96, 'ipv6'],
  ['64:ff9b:1::', 48, 'ipv6'],
  ['100::', 64, 'ipv6'],
  ['2001:db8::', 32, 'ipv6'],
  ['fc00::', 7, 'ipv6'],
  ['fe80::', 10, 'ipv6'],
  ['ff00::', 8, 'ipv6'],
];

/** A tenant's URL pointed at an address it may not reach: permanent, retrying cannot help. */
export class OutboundRefused extends Error {
  override readonly name = 'OutboundRefused';
}

const family = (address: string): 'ipv4' | 'ipv6' => (isIP(address) === 6 ? 'ipv6' : 'ipv4');

/**
 * HTTP to URLs that tenants choose (JPush callbacks, the token webhook). Only public addresses are
 * reached, unless the operator allows a range (`HERALD_OUTBOUND_ALLOW`, for self-hosted setups whose
 * endpoints are internal): a literal IP is checked before the request, a host name when it resolves
 * — inside the connection's own lookup, so the address checked is the address connected to (a name
 * that resolves to a public address once and a private one the next time cannot slip through).
 * Redirects are never followed.
 */
export class OutboundHttp {
  private readonly reserved = new BlockList();
  private readonly allowed = new BlockList();
  private readonly agent: Agent;

  constructor(allow: readonly string[] = []) {
    for (const [net, prefix, type] of RESERVED) this.reserved.addSubnet(net, prefix, type);
    for (const entry of allow) {
      const [net, prefix] = entry.split('/');
      const type = family(net);
      if (prefix === undefined) this.allowed.addAddress(net, type);
      else this.allowed.addSubnet(net, Number(prefix), type);
    }
    this.agent = new Agent({
      connect: {
        lookup: (hostname, options, callback) => this.lookup(hostname, options, callback),
      },
    });
  }

  /** Whether a request may go to `address`. */
  reachable(address: string): boolean {
    const type = family(address);
    return this.allowed.check(address, type) || !this.reserved.check(address, type);
  }

  /** `fetch` with the address checks; rejects with {@link OutboundRefused} for an address it may not reach. */
  async fetch(url: URL, init: Omit<RequestInit, 'dispatcher' | 'redirect'>): Promise<Response> {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) !== 0 && !this.reachable(host)) {
      throw new OutboundRefused(`${host} is a private or reserved address`);
    }
    return fetch(url, { ...init, redirect: 'manual', dispatcher: this.agent });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private lookup(
    hostname: string,
    options: LookupOptions,
    callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void,
  ): void {
    lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, []);
      const refused = addresses.find((a) => !this.reachable(a.address));
      if (refused) {
        return callback(
          new OutboundRefused(`${hostname} resolves to ${refused.address}, a private or reserved address`),
          [],
        );
      }
      if (options.all) return callback(null, addresses);
      callback(null, addresses[0].address, addresses[0].family);
    });
  }
}
