// The config schema: defaults, several problems reported in one pass, YAML lines, problem formatting.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  type ConfigProblem,
  formatProblems,
  parseConfig,
  parseConfigText,
  parseHostPort,
} from '../../gateway/config.js';
import { testConfigInput } from '../helpers/config.js';

// biome-ignore lint/suspicious/noExplicitAny: tests break raw YAML objects in arbitrary places.
type Raw = Record<string, any>;
const exampleText = readFileSync(new URL('../../config/gatehouse.example.yaml', import.meta.url), 'utf8');
/** A fresh, valid raw config (the shipped example) for each test to break in one place. */
const example = (): Raw => parseYaml(exampleText);

function problemsOf(input: unknown): ConfigProblem[] {
  const r = parseConfig(input);
  if (r.ok) throw new Error('expected the config to be rejected');
  return r.problems;
}

const minimal = (): Raw => {
  const c = example();
  for (const k of ['stepUp', 'storage', 'guacd', 'notify']) delete c[k];
  delete c.oidc.roleClaim;
  delete c.oidc.orgClaim;
  c.targets = [
    {
      id: 'rdp-only',
      name: 'RDP box',
      zone: 'Z',
      securityLevel: 1,
      rdp: { host: 'ws.plant.local', username: 'maint', credential: { env: 'RDP_PW' } },
      approvers: ['ot-supervisors'],
    },
  ];
  return c;
};

describe('parseConfig: valid configs', () => {
  it('accepts the shipped example and the test helper config', () => {
    const r = parseConfig(example());
    expect(r.ok && r.config.targets.map((t) => t.id)).toEqual(['eng-ws-01']);
    expect(parseConfig(testConfigInput('/tmp/x')).ok).toBe(true);
  });

  it('fills the documented defaults', () => {
    const m = minimal();
    delete m.ssh.loginGraceSeconds;
    const r = parseConfig(m);
    if (!r.ok) throw new Error(formatProblems(r.problems));
    const { config } = r;
    expect(config.ssh.loginGraceSeconds).toBe(30);
    expect(config.oidc.roleClaim).toBe('groups');
    expect(config.oidc.orgClaim).toBe('org');
    expect(config.stepUp.maxAgeMinutes).toBe(15);
    expect(config.storage.dir).toBe('recordings');
    expect(config.guacd).toEqual({ host: '127.0.0.1', port: 4822 });
    expect(config.notify.webhooks).toEqual([]);
    const t = config.targets[0]!;
    expect(t.rdp).toMatchObject({ port: 3389, security: 'nla', clipboard: false, drive: false });
    expect(t).toMatchObject({
      approvalsRequired: 1,
      maxDurationMinutes: 240,
      forwarding: [],
      fileTransfer: 'deny',
    });
    expect(t.commands).toEqual({ mode: 'observe', rules: [] });
    expect(t.maintenanceWindows).toBeUndefined();
  });

  it('defaults the SSH port, trims a trailing slash from publicUrl, allows windows across midnight', () => {
    const c = example();
    delete c.targets[0].ssh.port;
    c.http.publicUrl = 'https://gw.example/gatehouse/';
    c.http.listen = '[::1]:0';
    c.targets[0].maintenanceWindows = [
      { days: ['sat'], from: '22:00', to: '06:00' },
      { days: ['sun'], from: '00:00', to: '24:00' },
    ];
    const r = parseConfig(c);
    if (!r.ok) throw new Error(formatProblems(r.problems));
    expect(r.config.targets[0]!.ssh!.port).toBe(22);
    expect(r.config.http.publicUrl).toBe('https://gw.example/gatehouse');
  });

  it("reads an RDP certificate pin in the forms tools print, and keeps it in FreeRDP's form", () => {
    const freerdp = Array.from({ length: 32 }, (_, i) => (i * 7 + 10).toString(16).padStart(2, '0')).join(':');
    for (const given of [
      freerdp,
      freerdp.toUpperCase(),
      `sha256:${freerdp}`,
      `SHA256:${freerdp.toUpperCase()}`,
      freerdp.replaceAll(':', ''),
      ` ${freerdp} `,
    ]) {
      const c = example();
      c.targets[0].rdp.certSha256 = given;
      const r = parseConfig(c);
      if (!r.ok) throw new Error(formatProblems(r.problems));
      expect(r.config.targets[0]!.rdp!.certSha256).toBe(freerdp);
    }
    const unpinned = parseConfig(example());
    expect(unpinned.ok && unpinned.config.targets[0]!.rdp).toMatchObject({ ignoreCert: false });
    expect(unpinned.ok && unpinned.config.targets[0]!.rdp!.certSha256).toBeUndefined();
  });
});

describe('parseConfig: problems', () => {
  it('refuses a login grace outside 1..600 seconds, or not whole', () => {
    for (const v of [0, 601, 1.5, '30']) {
      const c = example();
      c.ssh.loginGraceSeconds = v;
      expect(problemsOf(c).map((p) => p.path)).toEqual(['ssh.loginGraceSeconds']);
    }
  });

  it('reports several problems from one call, in every part of the config', () => {
    const c = example();
    c.site.timezone = 'Mars/Olympus';
    c.unknownRoot = true;
    c.oidc.clientSecret = 'hunter2';
    c.targets[0].ssh.hostKeySha256 = 'SHA256:short';
    c.targets[0].commands.rules[0].match = '[';
    c.targets[0].maintenanceWindows[0].days = ['funday'];
    c.targets.push({ ...c.targets[0], approvalsRequired: 0 });
    const paths = problemsOf(c).map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'site.timezone',
        'unknownRoot',
        'oidc.clientSecret',
        'targets[0].ssh.hostKeySha256',
        'targets[0].commands.rules[0].match',
        'targets[0].maintenanceWindows[0].days[0]',
        'targets[1].approvalsRequired',
        'targets[1].id',
      ]),
    );
  });

  it('never echoes an inline secret back in a problem', () => {
    const c = example();
    c.oidc.clientSecret = 'hunter2-very-secret';
    expect(formatProblems(problemsOf(c))).not.toContain('hunter2');
  });

  it('rejects a document that is not a mapping at (root)', () => {
    expect(problemsOf(null)).toEqual([{ path: '(root)', message: expect.stringMatching(/expected object/) }]);
    expect(problemsOf(['a'])[0]!.path).toBe('(root)');
  });
});

describe('parseConfigText', () => {
  it('reports a YAML syntax error with its line and column', () => {
    const r = parseConfigText(
      'site: { name: x, timezone: UTC }\nhttp:\n  listen: [127.0.0.1:8080\nssh: {}\n',
      'gh.yaml',
    );
    if (r.ok) throw new Error('expected a syntax error');
    const p = r.problems[0]!;
    expect(p.line).toBeGreaterThanOrEqual(3);
    expect(p.path).toBe(`gh.yaml:${p.line}:1`);
    expect(p.message).toMatch(/Flow sequence/);
    expect(p.message).not.toContain('\n');
  });

  it('reports a key given twice', () => {
    const r = parseConfigText('site: {}\nsite: {}\n');
    expect(!r.ok && r.problems[0]).toMatchObject({ line: 2, message: expect.stringMatching(/unique/) });
  });

  it('gives schema problems the line of their key', () => {
    const text = exampleText.replace('    securityLevel: 3 ', '    securityLevle: 3 ');
    const r = parseConfigText(text);
    if (r.ok) throw new Error('expected problems');
    const line = text.split('\n').findIndex((l) => l.includes('securityLevle')) + 1;
    // The misspelling names the key it is closest to; that key's "required" is not said a second time.
    expect(r.problems).toContainEqual({
      path: 'targets[0].securityLevle',
      message: 'unknown key; did you mean "securityLevel"?',
      line,
    });
    expect(r.problems.some((p) => p.path === 'targets[0].securityLevel')).toBe(false);
    expect(formatProblems(r.problems)).toContain(
      `targets[0].securityLevle: unknown key; did you mean "securityLevel"? (line ${line})`,
    );
  });

  it('accepts the example text as written', () => {
    expect(parseConfigText(exampleText).ok).toBe(true);
  });
});

describe('formatProblems and parseHostPort', () => {
  it('prints one `path: message` per line', () => {
    expect(
      formatProblems([
        { path: 'a.b', message: 'x' },
        { path: 'targets[0].id', message: 'y' },
      ]),
    ).toBe('a.b: x\ntargets[0].id: y');
  });

  it('parses the address forms listeners accept', () => {
    expect(parseHostPort('[::1]:2222')).toEqual({ host: '::1', port: 2222 });
    expect(parseHostPort('gw.plant.local:443')).toEqual({ host: 'gw.plant.local', port: 443 });
    expect(parseHostPort('0.0.0.0:0', { allowPortZero: true })).toEqual({ host: '0.0.0.0', port: 0 });
    expect(parseHostPort('0.0.0.0:0')).toHaveProperty('error');
  });
});

describe('parseConfigText: hostile input', () => {
  it('refuses an alias bomb instead of expanding it', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 12; i++)
      lines.push(
        `a${i}: &a${i} [${Array(10)
          .fill(`*a${i - 1}`)
          .join(', ')}]`,
      );
    const r = parseConfigText(lines.join('\n'), 'bomb.yaml');
    expect(r.ok).toBe(false);
    expect(!r.ok && r.problems[0]).toMatchObject({
      path: 'bomb.yaml',
      message: expect.stringMatching(/alias/i),
    });
  });
});
