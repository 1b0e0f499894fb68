// Turns an IdP's ID token claims into a Gatehouse identity: roles (oidc.roleClaim → oidc.roles) and vendor org.
import type { Config } from '../config.js';
import { ROLES, type Role, type User } from '../core/model.js';

type OidcConfig = Pick<Config['oidc'], 'roleClaim' | 'roles' | 'orgClaim'>;

/** What a login proved about a person, bound to (issuer, subject): never to the e-mail address. */
export type Identity = Pick<User, 'issuer' | 'subject' | 'name' | 'email' | 'org' | 'groups' | 'roles'>;

/**
 * A claim by exact name first (`groups`, `https://example.com/groups`), then as a dotted path
 * (`realm_access.roles`, as Keycloak nests them).
 */
export function readClaim(claims: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(claims, name)) return claims[name];
  let v: unknown = claims;
  for (const part of name.split('.')) {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.hasOwn(v, part)) return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

/** A role claim may be an array of strings or one space-separated string; anything else counts as none. */
export function claimValues(v: unknown): string[] {
  const list = typeof v === 'string' ? v.split(/\s+/) : Array.isArray(v) ? v : [];
  const out = list.filter((x): x is string => typeof x === 'string' && x.length > 0);
  return [...new Set(out)];
}

/** Roles whose configured groups intersect the user's groups. Nothing mapped → no roles (the caller refuses). */
export function mapRoles(groups: readonly string[], roles: OidcConfig['roles']): Role[] {
  const held = new Set(groups);
  return ROLES.filter((r) => roles[r].some((g) => held.has(g)));
}

const str = (v: unknown): string => (typeof v === 'string' ? v.trim() : '');

/** The vendor company: the org claim, else the e-mail's domain, else empty. */
export function orgOf(claims: Record<string, unknown>, orgClaim: string): string {
  const org = str(readClaim(claims, orgClaim));
  if (org) return org;
  const email = str(claims.email);
  const at = email.lastIndexOf('@');
  return at > 0 ? email.slice(at + 1).toLowerCase() : '';
}

/** The identity in an ID token's claims. `iss` and `sub` were verified by openid-client before this runs. */
export function identityFromClaims(claims: Record<string, unknown>, oidc: OidcConfig): Identity {
  const groups = claimValues(readClaim(claims, oidc.roleClaim));
  const email = str(claims.email);
  const subject = str(claims.sub);
  return {
    issuer: str(claims.iss),
    subject,
    name: str(claims.name) || str(claims.preferred_username) || email || subject,
    email,
    org: orgOf(claims, oidc.orgClaim),
    groups,
    roles: mapRoles(groups, oidc.roles),
  };
}
