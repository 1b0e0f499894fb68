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
