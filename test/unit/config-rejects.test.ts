// Every kind of bad config value is rejected, with its key path and a message that says what is wrong.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../../gateway/config.js';

// biome-ignore lint/suspicious/noExplicitAny: tests break raw YAML objects in arbitrary places.
type Raw = Record<string, any>;
const exampleText = readFileSync(new URL('../../config/gatehouse.example.yaml', import.meta.url), 'utf8');

const T = 'targets[0]';
const W = `${T}.maintenanceWindows[0]`;
const t = (c: Raw) => c.targets[0];
const win = (c: Raw) => c.targets[0].maintenanceWindows[0];
const rule = (c: Raw, i: number) => c.targets[0].commands.rules[i];

// [what, how to break the shipped example, expected path, expected message]
const bad: [string, (c: Raw) => unknown, string, RegExp][] = [
  ['unknown key at the root', (c) => (c.extras = 1), 'extras', /^unknown key$/],
  ['unknown nested key', (c) => (c.http.tsl = {}), 'http.tsl', /^unknown key$/],
  ['unknown key in a target', (c) => (t(c).ssh.hostkey = 'x'), `${T}.ssh.hostkey`, /unknown key/],
  ['bad target id', (c) => (t(c).id = 'Eng_WS 1'), `${T}.id`, /a-z, 0-9/],
  ['duplicate target ids', (c) => c.targets.push({ ...t(c) }), 'targets[1].id', /duplicate target id/],
  ['missing hostKeySha256', (c) => delete t(c).ssh.hostKeySha256, `${T}.ssh.hostKeySha256`, /required: pin/],
  ['short hostKeySha256', (c) => (t(c).ssh.hostKeySha256 = 'SHA256:abc'), `${T}.ssh.hostKeySha256`, /43/],
  ['MD5 host key', (c) => (t(c).ssh.hostKeySha256 = 'MD5:16:27:ac'), `${T}.ssh.hostKeySha256`, /SHA256/],
  ['padded hostKeySha256', (c) => (t(c).ssh.hostKeySha256 += '='), `${T}.ssh.hostKeySha256`, /without "="/],
  ['stray bits', (c) => (t(c).ssh.hostKeySha256 = `SHA256:${'A'.repeat(42)}B`), `${T}.ssh.hostKeySha256`, /43/],
  ['window hour 25', (c) => (win(c).from = '25:00'), `${W}.from`, /HH:MM between 00:00 and 24:00/],
  ['window 24:30', (c) => (win(c).to = '24:30'), `${W}.to`, /HH:MM/],
  ['window H:MM', (c) => (win(c).from = '6:00'), `${W}.from`, /HH:MM/],
  ['window from = to', (c) => (win(c).to = '06:00'), `${W}.to`, /equal/],
  ['window from 24:00', (c) => (win(c).from = '24:00'), `${W}.from`, /cannot start at 24:00/],
  ['bad day', (c) => (win(c).days[1] = 'tuesday'), `${W}.days[1]`, /"tue"/],
  ['no days', (c) => (win(c).days = []), `${W}.days`, /at least one day/],
  ['uncompilable regex', (c) => (rule(c, 1).match = '(plc'), `${T}.commands.rules[1].match`, /Unterminated group/],
  ['empty regex', (c) => (rule(c, 0).match = ''), `${T}.commands.rules[0].match`, /empty/],
  ['bad rule action', (c) => (rule(c, 0).action = 'deny'), `${T}.commands.rules[0].action`, /"block"/],
  ['bad commands mode', (c) => (t(c).commands.mode = 'strict'), `${T}.commands.mode`, /"enforce"/],
  ['listen without port', (c) => (c.http.listen = 'localhost'), 'http.listen', /host:port/],
  ['bare IPv6 listen', (c) => (c.ssh.listen = '::1:2222'), 'ssh.listen', /brackets/],
  ['bad IPv6 listen', (c) => (c.ssh.listen = '[::g]:2222'), 'ssh.listen', /not an IPv6/],
  ['bad listen host', (c) => (c.http.listen = 'gate house:80'), 'http.listen', /not a hostname/],
  ['bad IPv4 listen', (c) => (c.http.listen = '300.1.1.1:80'), 'http.listen', /not a hostname or IPv4/],
  ['listen port too large', (c) => (c.http.listen = '127.0.0.1:70000'), 'http.listen', /outside 0\.\.65535/],
  ['ssh port 0', (c) => (t(c).ssh.port = 0), `${T}.ssh.port`, /Too small/],
  ['rdp port a string', (c) => (t(c).rdp.port = '3389'), `${T}.rdp.port`, /expected number, received string/],
  ['guacd port too large', (c) => (c.guacd.port = 65536), 'guacd.port', /Too big/],
  ['forwarding without port', (c) => (t(c).forwarding = ['10.2.0.20']), `${T}.forwarding[0]`, /host:port/],
  ['forwarding port 0', (c) => (t(c).forwarding = ['10.2.0.20:0']), `${T}.forwarding[0]`, /outside 1\.\.65535/],
  ['bad timezone', (c) => (c.site.timezone = 'Europe/Atlantis'), 'site.timezone', /not an IANA time zone/],
  ['inline secret', (c) => (c.oidc.clientSecret = 'hunter2'), 'oidc.clientSecret', /inline: use \{ env/],
  ['inline credential', (c) => (t(c).rdp.credential = 'hunter2'), `${T}.rdp.credential`, /never written inline/],
  ['env and file', (c) => (t(c).ssh.credential = { env: 'A', file: 'b' }), `${T}.ssh.credential`, /not both/],
  ['bad env name', (c) => (c.oidc.clientSecret = { env: 'MY-PW' }), 'oidc.clientSecret.env', /variable name/],
  ['env not a string', (c) => (c.oidc.clientSecret = { env: 42 }), 'oidc.clientSecret', /env must name/],
  ['empty secret file', (c) => (t(c).ssh.credential = { file: '' }), `${T}.ssh.credential.file`, /empty/],
  ['approvalsRequired 0', (c) => (t(c).approvalsRequired = 0), `${T}.approvalsRequired`, /Too small/],
  ['approvalsRequired 6', (c) => (t(c).approvalsRequired = 6), `${T}.approvalsRequired`, /Too big/],
  ['approvalsRequired 1.5', (c) => (t(c).approvalsRequired = 1.5), `${T}.approvalsRequired`, /int/],
  ['maxDurationMinutes 1441', (c) => (t(c).maxDurationMinutes = 1441), `${T}.maxDurationMinutes`, /Too big/],
  ['securityLevel 5', (c) => (t(c).securityLevel = 5), `${T}.securityLevel`, /Too big/],
  ['no approvers', (c) => (t(c).approvers = []), `${T}.approvers`, /at least one approver/],
  ['neither ssh nor rdp', (c) => delete t(c).ssh && delete t(c).rdp, T, /ssh, rdp or both/],
  ['forwarding on an rdp-only target', (c) => delete t(c).ssh, `${T}.forwarding`, /needs an ssh target/],
  ['bad rdp security', (c) => (t(c).rdp.security = 'none'), `${T}.rdp.security`, /"nla"/],
  ['short certSha256', (c) => (t(c).rdp.certSha256 = 'ab:cd:ef'), `${T}.rdp.certSha256`, /32 hex pairs/],
  ['certSha256 not hex', (c) => (t(c).rdp.certSha256 = 'zz'.repeat(32)), `${T}.rdp.certSha256`, /64 hex digits/],
  [
    'certSha256 as an SSH fingerprint',
    (c) => (t(c).rdp.certSha256 = `SHA256:${'A'.repeat(43)}`),
    `${T}.rdp.certSha256`,
    /hex pairs/,
  ],
  [
    'certSha256 beside ignoreCert',
    (c) => Object.assign(t(c).rdp, { certSha256: 'ab'.repeat(32), ignoreCert: true }),
    `${T}.rdp.ignoreCert`,
    /contradicts certSha256/,
  ],
  [
    'certSha256 with legacy RDP security',
    (c) => Object.assign(t(c).rdp, { certSha256: 'ab'.repeat(32), security: 'rdp' }),
    `${T}.rdp.certSha256`,
    /no TLS certificate/,
  ],
  ['publicUrl not http', (c) => (c.http.publicUrl = 'ftp://gw.example'), 'http.publicUrl', /http:\/\/ or https/],
  ['publicUrl not a URL', (c) => (c.http.publicUrl = 'gatehouse.plant3'), 'http.publicUrl', /not a URL/],
  ['webhook not http', (c) => (c.notify.webhooks = ['javascript:alert(1)']), 'notify.webhooks[0]', /http/],
  ['issuer with credentials', (c) => (c.oidc.issuer = 'https://u:p@idp.example'), 'oidc.issuer', /password/],
  ['missing site', (c) => delete c.site, 'site', /^required$/],
  ['no host keys', (c) => (c.ssh.hostKeys = []), 'ssh.hostKeys', /at least one host key/],
  ['bad target host', (c) => (t(c).ssh.host = 'plc_1'), `${T}.ssh.host`, /not a hostname/],
];

describe('parseConfig rejects bad values with their key path', () => {
  it.each(bad)('%s', (_what, breakIt, path, message) => {
    const c: Raw = parseYaml(exampleText);
    breakIt(c);
    const r = parseConfig(c);
    if (r.ok) throw new Error('expected the config to be rejected');
    expect(r.problems.map((p) => p.path)).toContain(path);
    expect(r.problems.find((p) => p.path === path)!.message).toMatch(message);
  });
});
