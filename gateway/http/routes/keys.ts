// SSH public keys of the caller (mounted at /api): list, register (OpenSSH one-line form), remove.
import { createPublicKey, randomBytes } from 'node:crypto';
import { type Request, Router } from 'express';
import { sshFingerprint, utils } from '../../ssh/ssh.js';
import { requireAuth } from '../../auth/auth.js';
import { auditRefusal } from '../../broker.js';
import { type Clock, isoTime } from '../../clock.js';
import { type SshKey, userActor } from '../../core/model.js';
import { conflict, invalidInput, notFound } from '../../errors.js';
import type { Logger } from '../../log.js';
import type { AuditAppend, StatePort } from '../../storage/storage.js';

export const MAX_KEYS_PER_USER = 10;
const MAX_LINE = 16 * 1024;
const ALGORITHMS = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);

export type KeyView = Omit<SshKey, 'userId'>;
const view = ({ userId: _u, ...k }: SshKey): KeyView => k;

/** Checks an OpenSSH public key line; returns its parts or throws 400 with what is wrong. */
export function parsePublicKeyLine(input: unknown): {
  algorithm: string;
  publicKey: string;
  fingerprint: string;
  comment: string;
} {
  if (typeof input !== 'string' || input.trim() === '')
    throw invalidInput('public_key_required', 'send {"publicKey": "ssh-ed25519 AAAA… comment"}');
  const line = input.trim();
  if (line.length > MAX_LINE || /[\r\n]/.test(line))
    throw invalidInput('invalid_public_key', 'send one public key line (the content of your .pub file)');
  const parsed = utils.parseKey(line);
  if (parsed instanceof Error || Array.isArray(parsed))
    throw invalidInput('invalid_public_key', 'not an OpenSSH public key line (the content of your .pub file)');
  // Why: a private key pasted here by mistake must never be stored.
  if (parsed.isPrivateKey())
    throw invalidInput('private_key_sent', 'that is a private key: send the .pub file instead');
  if (!ALGORITHMS.has(parsed.type))
    throw invalidInput(
      'unsupported_key_type',
      `key type ${parsed.type} is not accepted (use ed25519, ECDSA or RSA ≥ 2048 bits)`,
    );
  if (parsed.type === 'ssh-rsa') {
    const bits = createPublicKey(parsed.getPublicPEM()).asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) throw invalidInput('weak_key', `RSA keys need at least 2048 bits (this one has ${bits})`);
  }
  const blob = parsed.getPublicSSH();
  // The stored line is rebuilt from the parsed key: no options or odd whitespace from the input survive.
  return {
    algorithm: parsed.type,
    publicKey: `${parsed.type} ${blob.toString('base64')}`,
    fingerprint: sshFingerprint(blob),
    comment: String(parsed.comment ?? '').slice(0, 200),
  };
}

/** The state (the caller's keys, read and changed with their audit record) and the audit log for refusals. */
export interface KeysPorts {
  store: Pick<StatePort, 'data' | 'update'>;
  audit: AuditAppend;
  clock: Clock;
  logger: Logger;
}

export function keysRouter(deps: KeysPorts): Router {
  const router = Router();
  const actorOf = (req: Request) => userActor(requireAuth(req).user, req.socket.remoteAddress);
  /**
   * Refusals of the store step (404, 409) become access.denied: another user's key id, or another user's public key
   * offered as one's own, is exactly what the trail must show. 401/403 are audited centrally (http/audit-refusal.ts).
   */
  const refused = (
    req: Request,
    action: string,
    err: unknown,
    subject: Record<string, unknown>,
    extra?: Record<string, unknown>,
  ) => auditRefusal(deps.audit, deps.logger, actorOf(req), action, err, subject, extra);

  router.get('/me/keys', (req, res) => {
    const { user } = requireAuth(req);
    res.json({ keys: deps.store.data.sshKeys.filter((k) => k.userId === user.id).map(view) });
  });

  router.post('/me/keys', async (req, res) => {
    const { user } = requireAuth(req);
    const body = (req.body ?? {}) as { publicKey?: unknown; comment?: unknown };
    const k = parsePublicKeyLine(body.publicKey);
    const comment = typeof body.comment === 'string' ? body.comment.trim().slice(0, 200) : k.comment;
    const key: SshKey = {
      id: `key_${randomBytes(12).toString('hex')}`,
      userId: user.id,
      fingerprint: k.fingerprint,
      algorithm: k.algorithm,
      publicKey: k.publicKey,
      comment,
      createdAt: isoTime(deps.clock.now()),
    };
    try {
      await deps.store.update((d, audit) => {
        const owner = d.sshKeys.find((x) => x.fingerprint === key.fingerprint);
        // Why unique across users: the key is how the SSH front knows who is connecting.
        if (owner && owner.userId !== user.id)
          throw conflict('key_in_use', 'this key is registered to another account');
        if (owner) throw conflict('key_exists', 'you have already registered this key');
        if (d.sshKeys.filter((x) => x.userId === user.id).length >= MAX_KEYS_PER_USER)
          throw conflict('too_many_keys', `at most ${MAX_KEYS_PER_USER} keys per user; remove one first`);
        d.sshKeys.push(key);
        audit.record({
          type: 'key.added',
          actor: actorOf(req),
          subject: { userId: user.id, keyId: key.id },
          data: { fingerprint: key.fingerprint, algorithm: key.algorithm, comment: key.comment },
        });
      });
    } catch (err) {
      await refused(req, 'key.add', err, { userId: user.id }, { fingerprint: key.fingerprint });
      throw err;
    }
    res.status(201).json(view(key));
  });

  router.delete('/me/keys/:id', async (req, res) => {
    const { user } = requireAuth(req);
    const id = String(req.params.id);
    try {
      await deps.store.update((d, audit) => {
        const i = d.sshKeys.findIndex((x) => x.id === id && x.userId === user.id);
        // Someone else's key id answers exactly like a missing one (and the trail says which it was).
        if (i < 0) throw notFound('key_not_found', 'no such key');
        const gone = d.sshKeys.splice(i, 1)[0]!;
        audit.record({
          type: 'key.removed',
          actor: actorOf(req),
          subject: { userId: user.id, keyId: gone.id },
          data: { fingerprint: gone.fingerprint, algorithm: gone.algorithm },
        });
      });
    } catch (err) {
      const exists = deps.store.data.sshKeys.some((x) => x.id === id);
      await refused(req, 'key.remove', err, { userId: user.id, keyId: id.slice(0, 100) }, { exists });
      throw err;
    }
    res.status(204).end();
  });
  return router;
}
