import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OutboundHttp, OutboundRefused } from './outbound-http';

describe('OutboundHttp: tenants’ URLs reach public addresses only', () => {
  it('tells public addresses from private and reserved ones, IPv4 and IPv6', () => {
    const http = new OutboundHttp();
    for (const a of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '93.184.216.34']) {
      expect([a, http.reachable(a)]).toEqual([a, true]);
    }
    for (const a of [
      '127.0.0.1',
      '10.1.2.3',
      '172.20.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '255.255.255.255',
      '::1',
      '::',
      'fd00::1',
      'fe80::1',
      '::ffff:127.0.0.1',
      '::ffff:10.0.0.1',
      '64:ff9b::a00:1',
    ]) {
      expect([a, http.reachable(a)]).toEqual([a, false]);
    }
    void http.close();
  });

  it('lets the operator allow private ranges (HERALD_OUTBOUND_ALLOW)', () => {
    const http = new OutboundHttp(['10.0.0.0/8', '::1']);
    expect(http.reachable('10.9.9.9')).toBe(true);
    expect(http.reachable('::1')).toBe(true);
    expect(http.reachable('192.168.1.1')).toBe(false);
    void http.close();
  });

  describe('requests', () => {
    let server: Server;
    let port: number;
    let hits = 0;
    beforeAll(async () => {
      server = createServer((_req, res) => {
        hits++;
        res.writeHead(200).end('ok');
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      port = (server.address() as AddressInfo).port;
    });
    afterAll(() => new Promise((r) => server.close(r)));

    it('refuses a literal private address before connecting, and a name that resolves to one when it connects', async () => {
      const http = new OutboundHttp();
      try {
        await expect(
          http.fetch(new URL(`http://127.0.0.1:${port}/`), { method: 'POST' }),
        ).rejects.toBeInstanceOf(OutboundRefused);
        const byName = http.fetch(new URL(`http://localhost:${port}/`), { method: 'POST' });
        await expect(byName).rejects.toMatchObject({ cause: expect.any(OutboundRefused) });
        expect(hits).toBe(0);
      } finally {
        await http.close();
      }
    });

    it('reaches a private address the operator allowed', async () => {
      const http = new OutboundHttp(['127.0.0.0/8', '::1']);
      try {
        const res = await http.fetch(new URL(`http://localhost:${port}/`), { method: 'POST' });
        expect(res.status).toBe(200);
        await res.body?.cancel();
        expect(hits).toBe(1);
      } finally {
        await http.close();
      }
    });
  });
});
