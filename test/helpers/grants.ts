// An approved request whose window is open now (started a minute ago, four hours left): what most session tests need.
import { randomBytes } from 'node:crypto';
import type { AccessRequest, Protocol } from '../../gateway/core/model.js';

export function openGrant(
  o: { userId: string; targetId: string; protocol: Protocol; now: number; purpose?: string },
  over: Partial<AccessRequest> = {},
): AccessRequest {
  const { now } = o;
  return {
    id: `req_${randomBytes(8).toString('hex')}`,
    userId: o.userId,
    targetId: o.targetId,
    protocol: o.protocol,
    startsAt: new Date(now - 60_000).toISOString(),
    endsAt: new Date(now + 4 * 3600_000).toISOString(),
    durationMinutes: 240,
    purpose: o.purpose ?? 'test',
    emergency: false,
    state: 'approved',
    approvalsRequired: 1,
    decisions: [],
    createdAt: new Date(now - 120_000).toISOString(),
    updatedAt: new Date(now - 120_000).toISOString(),
    grantId: `grt_${randomBytes(8).toString('hex')}`,
    ...over,
  };
}
