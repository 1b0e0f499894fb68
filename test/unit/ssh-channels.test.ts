// Channel policy, refusal text and key-line parsing of the SSH front: pure functions.
import { describe, expect, it } from 'vitest';
import { utils } from 'ssh2';
import { parsePublicKeyLine } from '../../gateway/http/routes/keys.js';
import { oneLine } from '../../gateway/text.js';
import { execDecision, forwardDecision, subsystemDecision } from '../../gateway/ssh/channels.js';
import { sshFingerprint } from '../../gateway/ssh/host-keys.js';

/** ssh2's generator drops a leading zero byte of the public key (~1 in 256): take only keys that load. */
function newPair() {
  for (;;) {
    const p = utils.generateKeyPairSync('ed25519');
    if (!(utils.parseKey(p.public) instanceof Error)) return p;
  }
}

const target = { id: 'eng-ws-01', forwarding: ['10.2.0.20:102'], fileTransfer: 'deny' as const };

describe('channel policy', () => {
  it('allows only exact host:port from the forwarding list', () => {
    expect(forwardDecision(target, '10.2.0.20', 102)).toEqual({ allow: true });
    expect(forwardDecision(target, '10.2.0.20', 103)).toMatchObject({ allow: false, code: 'forward_refused' });
    expect(forwardDecision(target, '10.2.0.020', 102).allow).toBe(false);
    expect(forwardDecision(target, 'localhost', 102).allow).toBe(false);
  });

  it('allows sftp only with fileTransfer: allow, and no other subsystem', () => {
    expect(subsystemDecision(target, 'sftp')).toMatchObject({ allow: false, code: 'file_transfer_denied' });
    expect(subsystemDecision({ ...target, fileTransfer: 'allow' }, 'sftp')).toEqual({ allow: true });
    expect(subsystemDecision({ ...target, fileTransfer: 'allow' }, 'netconf').allow).toBe(false);
  });
});

describe('refusal lines', () => {
  it('strip terminal control characters and stay one bounded line', () => {
    expect(oneLine('revoked:\x1b[2J\r\nrm -rf')).toBe('revoked: [2J rm -rf');
    expect(oneLine('x'.repeat(1000)).length).toBeLessThanOrEqual(401);
  });
});

describe('public key lines', () => {
  const pair = newPair();
  it('accepts an OpenSSH line and computes the OpenSSH fingerprint', () => {
    const k = parsePublicKeyLine(`${pair.public} alice@laptop`);
    const parsed = utils.parseKey(pair.public);
    if (parsed instanceof Error) throw parsed;
    expect(k.algorithm).toBe('ssh-ed25519');
    expect(k.fingerprint).toBe(sshFingerprint(parsed.getPublicSSH()));
    expect(k.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('refuses private keys, garbage, several lines and weak RSA', () => {
    expect(() => parsePublicKeyLine(pair.private)).toThrow(/private key|one public key line/);
    expect(() => parsePublicKeyLine('ssh-ed25519 not-base64')).toThrow(/not an OpenSSH public key/);
    expect(() => parsePublicKeyLine(`${pair.public}\n${pair.public}`)).toThrow(/one public key line/);
    const rsa = utils.generateKeyPairSync('rsa', { bits: 1024 });
    expect(() => parsePublicKeyLine(rsa.public)).toThrow(/at least 2048 bits/);
  });
});

describe('execDecision', () => {
  const t = { id: 'eng-ws-01' };
  it.each([
    'scp -t /tmp/x',
    'scp -v -f /etc/passwd',
    '/usr/bin/scp -pt .',
    'cd /tmp && scp -r -t dir',
    'rsync --server -vlogDtpre.iLsfxCIvu . /tmp/x',
    "sh -c 'scp -t /x'",
  ])('refuses %s', (cmd) => expect(execDecision(t, cmd).allow).toBe(false));
  it.each(['ls -t', 'scpx -t y', 'echo hello', 'tar -tf x.tar', 'rsync --version', 'plc download'])(
    'allows %s',
    (cmd) => expect(execDecision(t, cmd).allow).toBe(true),
  );
});
