import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { HERALD_CONFIG, type HeraldConfig } from '@herald/config';
import { REDIS } from '@herald/platform';
import { PresenceReader as GatewayPresence } from '@herald/providers';

/**
 * Who is online now, for `POST /v3/devices/status`: online means the device holds a gateway
 * connection now (api.md §1) — the presence keys gateway nodes keep in Redis with a TTL.
 */
export interface PresenceReader {
  /** The subset of `registrationIds` connected to some gateway node right now. */
  online(registrationIds: string[]): Promise<Set<string>>;
}

export const PRESENCE_READER = Symbol('PRESENCE_READER');

@Injectable()
export class GatewayPresenceReader implements PresenceReader {
  private readonly presence: GatewayPresence;

  constructor(@Inject(REDIS) redis: Redis, @Inject(HERALD_CONFIG) config: HeraldConfig) {
    this.presence = new GatewayPresence(redis, config.redis.queuePrefix);
  }

  async online(registrationIds: string[]): Promise<Set<string>> {
    const status = await this.presence.status(registrationIds);
    return new Set([...status].filter(([, s]) => s.online).map(([rid]) => rid));
  }
}
