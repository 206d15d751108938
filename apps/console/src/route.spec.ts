import { describe, expect, it } from '@jest/globals';
import { apiPath } from './api';
import { match } from './route';

describe('crafted links', () => {
  it('a malformed escape is a page not found, not an exception while rendering', () => {
    expect(match('/apps/:id/messages/:mid', '/apps/a/messages/%E0%A4%A')).toBeNull();
    expect(match('/apps/:id', '/apps/%')).toBeNull();
    expect(match('/apps/:id/messages/:mid', '/apps/a/messages/m%201')).toEqual({ id: 'a', mid: 'm 1' });
  });

  it('a decoded `..%2F` stays one segment of the API path', () => {
    const { id, mid } = match('/apps/:id/messages/:mid', '/apps/a/messages/..%2F..%2Fb%2Fmessages%2F7')!;
    expect(mid).toBe('../../b/messages/7');
    const path = apiPath`/apps/${id}/messages/${mid}/cancel`;
    expect(path).toBe('/apps/a/messages/..%2F..%2Fb%2Fmessages%2F7/cancel');
    expect(new URL(path, 'http://h/').pathname).toBe(path);
    expect(apiPath`/apps`).toBe('/apps');
    expect(apiPath`/members/${'u?x=1#'}`).toBe('/members/u%3Fx%3D1%23');
  });
});
