import { isIP, connect as netConnect, type Socket } from 'node:net';
import { Agent, type AgentOptions } from 'node:https';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

/**
 * An HTTPS agent that sends every request it carries to one configured endpoint, whatever host the
 * library asked for. firebase-admin and google-auth-library hard-code Google's hosts but accept an
 * agent, so this is how `HERALD_FCM_ENDPOINT` reaches both the token exchange and the sends through
 * their public options. An `http://` endpoint gets plain TCP (for local fakes and proxies).
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
