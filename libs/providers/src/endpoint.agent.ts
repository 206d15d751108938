import { isIP, connect as netConnect, type Socket } from 'node:net';
import { Agent, type AgentOptions } from 'node:https';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

/**
 * An HTTPS agent that sends every request it carries to one configured endpoint, whatever host the
 * request names. Herald's token exchange asks for Google's token host through it, so
 * `HERALD_FCM_ENDPOINT` gets `/token` too (the FCM sends go over `FcmClient`'s own HTTP/2 connections);
 * the benchmark points firebase-admin at a fake with it, through firebase-admin's public `httpAgent`.
 * An `http://` endpoint gets plain TCP (for local fakes and proxies).
 */
export class EndpointAgent extends Agent {
  private readonly target: URL;
  private readonly trusted?: (string | Buffer)[];

  constructor(endpoint: string, options: AgentOptions & { ca?: (string | Buffer)[] } = {}) {
    const { ca, ...agentOptions } = options;
    super(agentOptions);
    this.target = new URL(endpoint);
    this.trusted = ca;
  }

  // Returning the socket (rather than calling back) is the synchronous form Node's Agent accepts.
  override createConnection(options: ConnectionOptions): Socket {
    const host = this.target.hostname.replace(/^\[|\]$/g, '');
    const secure = this.target.protocol === 'https:';
    const port = Number(this.target.port || (secure ? 443 : 80));
    if (!secure) return netConnect({ host, port });
    return tlsConnect({
      ...options,
      host,
      port,
      // Verify the endpoint's own name, not Google's.
      servername: isIP(host) ? undefined : host,
      ...(this.trusted && { ca: this.trusted }),
    });
  }
}
