// Small shared pieces of the broker: who calls, the rule facts of a user, the targets by id, id minting.
import { randomBytes } from 'node:crypto';
import type { Config, TargetConfig } from '../config.js';
import type { ActorFacts, NewId } from '../core/access.js';
import type { Actor, User } from '../core/model.js';

/** The caller of a broker action: the user as server state knows them (never as the client says). */
export interface Caller {
  user: User;
  ip?: string;
}

export const factsOf = (user: Pick<User, 'id' | 'groups' | 'roles'>): ActorFacts => ({
  userId: user.id,
  groups: user.groups,
  roles: user.roles,
});

export const actorOf = (c: Caller): Actor => ({
  kind: 'user',
  id: c.user.id,
  name: c.user.name,
  email: c.user.email,
  ...(c.ip ? { ip: c.ip } : {}),
});

export const targetsById = (config: Pick<Config, 'targets'>): ReadonlyMap<string, TargetConfig> =>
  new Map(config.targets.map((t) => [t.id, t]));

/** 96 random bits: ids are not secrets, but unguessable ids keep enumeration from telling anything. */
export const randomId: NewId = (prefix) => `${prefix}_${randomBytes(12).toString('hex')}`;

/** "2026-11-23 10:00–12:00 Europe/Berlin", or both dates when the window crosses midnight. */
export function formatWindow(startLocal: string, endLocal: string): string {
  const [d1, t1, ...zone] = startLocal.split(' ');
  const [d2, t2] = endLocal.split(' ');
  const tz = zone.join(' ');
  return d1 === d2 ? `${d1} ${t1}–${t2} ${tz}` : `${d1} ${t1} – ${d2} ${t2} ${tz}`;
}
