// Shared fixtures for the pure access rules: a Berlin target, its people, id minting and frozen requests.
import type { ActorFacts, NewId, TargetRules } from '../../gateway/core/access.js';
import type { AccessRequest } from '../../gateway/core/model.js';

export const TZ = 'Europe/Berlin';
export const t = (s: string) => Date.parse(s);
export const MIN = 60_000;

/** Monday 2026-03-30 08:00 in Berlin (CEST): inside the weekday 06:00–18:00 window. */
export const MON_0800 = t('2026-03-30T06:00:00Z');

export const target: TargetRules = {
  id: 'eng-ws-01',
  name: 'Engineering workstation 01',
  ssh: { host: '10.2.0.15' },
  approvers: ['ot-supervisors'],
  approvalsRequired: 1,
  maxDurationMinutes: 240,
  maintenanceWindows: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '06:00', to: '18:00' }],
};

export const vendor: ActorFacts = { userId: 'usr_vendor', groups: ['vendors'], roles: ['vendor'] };
export const otherVendor: ActorFacts = { userId: 'usr_vendor2', groups: ['vendors'], roles: ['vendor'] };
export const sup1: ActorFacts = { userId: 'usr_sup1', groups: ['ot-supervisors'], roles: ['supervisor'] };
export const sup2: ActorFacts = { userId: 'usr_sup2', groups: ['ot-supervisors'], roles: ['supervisor'] };
export const sup3: ActorFacts = { userId: 'usr_sup3', groups: ['ot-supervisors'], roles: ['supervisor'] };
export const supervisorOnly: ActorFacts = { userId: 'usr_sup0', groups: ['vendors'], roles: ['supervisor'] };
export const admin: ActorFacts = { userId: 'usr_admin', groups: ['ot-admins'], roles: ['admin'] };
export const auditor: ActorFacts = { userId: 'usr_aud', groups: ['auditors'], roles: ['auditor'] };
/** A supervisor of another line: the right role, the wrong group. */
export const foreignSup: ActorFacts = {
  userId: 'usr_sup9',
  groups: ['line1-supervisors'],
  roles: ['supervisor'],
};
/** In the approver group through the IdP, but only a vendor: must not decide. */
export const vendorInGroup: ActorFacts = { userId: 'usr_v3', groups: ['ot-supervisors'], roles: ['vendor'] };
/** Vendor and supervisor in the approver group at once: may request, never approve their own. */
export const dual: ActorFacts = {
  userId: 'usr_dual',
  groups: ['vendors', 'ot-supervisors'],
  roles: ['vendor', 'supervisor'],
};

export function counterIds(): NewId {
  let n = 0;
  return (prefix) => `${prefix}_${++n}`;
}

export function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** A request record as the store holds it (frozen, like Store.data). */
export function requestFixture(over: Partial<AccessRequest> = {}): AccessRequest {
  return deepFreeze({
    id: 'req_1',
    userId: vendor.userId,
    targetId: target.id,
    protocol: 'ssh',
    startsAt: '2026-03-30T06:00:00.000Z',
    endsAt: '2026-03-30T08:00:00.000Z',
    durationMinutes: 120,
    purpose: 'Update the S7 project for line 2',
    emergency: false,
    state: 'pending',
    approvalsRequired: 1,
    decisions: [],
    createdAt: '2026-03-30T05:00:00.000Z',
    updatedAt: '2026-03-30T05:00:00.000Z',
    ...over,
  } satisfies AccessRequest);
}
