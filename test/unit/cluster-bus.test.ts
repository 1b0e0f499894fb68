// The cluster channel's messages as input: only well-formed ones of the known kinds are acted on.
import { describe, expect, it } from 'vitest';
import { parseMessage } from '../../gateway/cluster/bus.js';

describe('parseMessage', () => {
  it('accepts a request change and a close request', () => {
    expect(parseMessage('{"k":"request","from":"node-a","id":"req_1","type":"request.approved"}')).toEqual({
      k: 'request',
      from: 'node-a',
      id: 'req_1',
      type: 'request.approved',
    });
    const close = { k: 'close', from: 'node-b', to: 'node-a', sid: 'ses_1', reason: 'terminated', msg: 'bye' };
    expect(parseMessage(JSON.stringify(close))).toEqual(close);
  });

  const alert = {
    sessionId: 'ses_1',
    targetId: 'plc-1',
    userId: 'usr_1',
    userName: 'Vera Vendor',
    verdict: 'blocked',
    text: 'rm -rf /opt/plant',
    reason: 'destructive',
    at: '2026-12-06T09:00:00.000Z',
  };
  const alertMsg = (a: Record<string, unknown>) => JSON.stringify({ k: 'alert', from: 'node-a', a });

  it('accepts a command alert, keeping only the alert’s own fields', () => {
    expect(parseMessage(alertMsg(alert))).toEqual({ k: 'alert', from: 'node-a', a: alert });
    const { reason: _r, ...noReason } = alert;
    expect(parseMessage(alertMsg({ ...noReason, extra: 'x', verdict: 'alerted' }))).toEqual({
      k: 'alert',
      from: 'node-a',
      a: { ...noReason, verdict: 'alerted' },
    });
  });

  it.each([
    ['an alert without its alert', '{"k":"alert","from":"node-a"}'],
    ['an alert that is an array', '{"k":"alert","from":"node-a","a":[]}'],
    ['an alert with a verdict other than alerted or blocked', alertMsg({ ...alert, verdict: 'allowed' })],
    ['an alert without a session', alertMsg({ ...alert, sessionId: undefined })],
    ['an alert whose session id is not text', alertMsg({ ...alert, sessionId: 7 })],
    ['an alert with an oversized command line', alertMsg({ ...alert, text: 'x'.repeat(1001) })],
    ['an alert with an oversized reason', alertMsg({ ...alert, reason: 'x'.repeat(501) })],
    ['an alert whose reason is not text', alertMsg({ ...alert, reason: { toString: 1 } })],
    ['an alert whose time is not a time', alertMsg({ ...alert, at: 'yesterday' })],
    ['an alert with an oversized vendor name', alertMsg({ ...alert, userName: 'n'.repeat(201) })],
  ])('drops %s', (_what, payload) => {
    expect(parseMessage(payload)).toBeUndefined();
  });

  it.each([
    ['not JSON', 'ses_'],
    ['null', 'null'],
    ['an array', '[]'],
    ['no sender', '{"k":"request","id":"req_1","type":"request.approved"}'],
    ['an unknown kind', '{"k":"shutdown","from":"node-a"}'],
    ['a close without a target node', '{"k":"close","from":"a","sid":"ses_1","reason":"terminated","msg":""}'],
    [
      'a close for a reason other nodes may not ask for',
      '{"k":"close","from":"a","to":"b","sid":"s","reason":"gateway_crashed","msg":""}',
    ],
    [
      'a close with a message that is not text',
      '{"k":"close","from":"a","to":"b","sid":"s","reason":"revoked","msg":7}',
    ],
    [
      'an oversized message',
      JSON.stringify({ k: 'close', from: 'a', to: 'b', sid: 's', reason: 'revoked', msg: 'x'.repeat(1001) }),
    ],
    ['an oversized id', JSON.stringify({ k: 'request', from: 'a', id: 'r'.repeat(101), type: 'request.approved' })],
    [
      'a sender name too long for a node id',
      JSON.stringify({ k: 'request', from: 'n'.repeat(64), id: 'r', type: 't' }),
    ],
  ])('drops %s', (_what, payload) => {
    expect(parseMessage(payload)).toBeUndefined();
  });
});
