// Claims → identity: role mapping from an array or space-separated claim, org fallback, dotted claim paths.
import { describe, expect, it } from 'vitest';
import { claimValues, identityFromClaims, mapRoles, orgOf, readClaim } from '../../gateway/auth/roles.js';

const oidc = {
  roleClaim: 'groups',
  orgClaim: 'org',
  roles: { vendor: ['vendors'], supervisor: ['ot-supervisors'], auditor: ['auditors'], admin: ['ot-admins'] },
};

describe('claims to roles', () => {
  it('reads an array or a space-separated string, and nothing else', () => {
    expect(claimValues(['a', 'b', 'a'])).toEqual(['a', 'b']);
    expect(claimValues('a  b\tc')).toEqual(['a', 'b', 'c']);
    expect(claimValues([1, 'a', null])).toEqual(['a']);
    expect(claimValues(undefined)).toEqual([]);
    expect(claimValues({ a: 1 })).toEqual([]);
  });

  it('maps groups through the config, several roles at once, in a fixed order', () => {
    expect(mapRoles(['ot-admins', 'auditors', 'other'], oidc.roles)).toEqual(['auditor', 'admin']);
    expect(mapRoles(['contractors'], oidc.roles)).toEqual([]);
  });

  it('reads a claim by exact name first, then by dotted path', () => {
    expect(readClaim({ 'https://x/groups': ['a'] }, 'https://x/groups')).toEqual(['a']);
    expect(readClaim({ realm_access: { roles: ['r'] } }, 'realm_access.roles')).toEqual(['r']);
    expect(readClaim({ a: 'x' }, 'a.b')).toBeUndefined();
    expect(readClaim({}, '__proto__.polluted')).toBeUndefined();
  });

  it('takes the org claim, else the e-mail domain', () => {
    expect(orgOf({ org: 'Acme', email: 'v@acme.example' }, 'org')).toBe('Acme');
    expect(orgOf({ email: 'v@Beta.Example' }, 'org')).toBe('beta.example');
    expect(orgOf({}, 'org')).toBe('');
  });

  it('builds the identity bound to issuer and subject', () => {
    const id = identityFromClaims(
      { iss: 'https://idp', sub: 's1', email: 'v@acme.example', groups: 'vendors ot-supervisors' },
      { ...oidc, roleClaim: 'groups' },
    );
    expect(id).toEqual({
      issuer: 'https://idp',
      subject: 's1',
      name: 'v@acme.example',
      email: 'v@acme.example',
      org: 'acme.example',
      groups: ['vendors', 'ot-supervisors'],
      roles: ['vendor', 'supervisor'],
    });
  });
});
