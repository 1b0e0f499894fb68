// The domain's nouns. Pure types: no I/O here (core/ imports nothing that does I/O).

export type Role = 'vendor' | 'supervisor' | 'auditor' | 'admin';
export const ROLES: readonly Role[] = ['vendor', 'supervisor', 'auditor', 'admin'];

export type Protocol = 'ssh' | 'rdp';

/** Who did something, as the audit log and the store record it. */
export type Actor =
  | { kind: 'user'; id: string; name?: string; email?: string; ip?: string }
  | { kind: 'system'; id: 'gateway' | 'cli' | 'scheduler' }
  | { kind: 'anonymous'; ip?: string };

/** A user as the audit log names them (never the web-session id: that is a bearer secret). */
export const userActor = (user: Pick<User, 'id' | 'name' | 'email'>, ip?: string): Actor => ({
  kind: 'user',
  id: user.id,
  name: user.name,
  email: user.email,
  ...(ip ? { ip } : {}),
});

export const systemActor = (id: 'gateway' | 'cli' | 'scheduler' = 'gateway'): Actor => ({
  kind: 'system',
  id,
});

/** A person, bound to (issuer, subject) — never to an e-mail address, which an IdP may reassign. */
export interface User {
  id: string; // usr_…
  issuer: string;
  subject: string;
  name: string;
  email: string;
  org: string;
  groups: string[];
  roles: Role[];
  createdAt: string;
  lastLoginAt?: string;
  totp?: TotpState;
}

export interface TotpState {
  /** The shared secret, encrypted at rest (never returned after enrolment). */
  secretEnc: string;
  confirmed: boolean;
  /** The newest accepted time step: a step is never accepted twice. */
  lastStep?: number;
  failures: number;
  lockedUntil?: string;
  enrolledAt: string;
}

export interface SshKey {
  id: string; // key_…
  userId: string;
  /** `SHA256:…` fingerprint; unique across users (a key belongs to one user). */
  fingerprint: string;
  algorithm: string;
  publicKey: string; // OpenSSH one-line form
  comment: string;
  createdAt: string;
}

export type RequestState = 'pending' | 'approved' | 'denied' | 'cancelled' | 'expired' | 'revoked';

export interface Decision {
  by: string; // user id
  at: string;
  verdict: 'approve' | 'deny';
  reason?: string;
}

export interface AccessRequest {
  id: string; // req_…
  userId: string;
  targetId: string;
  protocol: Protocol;
  startsAt: string;
  endsAt: string;
  durationMinutes: number;
  purpose: string;
  ticket?: string;
  emergency: boolean;
  emergencyReason?: string;
  state: RequestState;
  approvalsRequired: number;
  decisions: Decision[];
  createdAt: string;
  updatedAt: string;
  /** Set once approved: the grant id under which sessions run. */
  grantId?: string;
  closedReason?: string;
}

export type SessionEndReason =
  | 'client_closed'
  | 'target_closed'
  | 'window_ended'
  | 'revoked'
  | 'terminated'
  | 'recording_failed'
  | 'gateway_stopped'
  | 'gateway_crashed'
  /** The node could not write its heartbeat for the fence time and closed its sessions (it may be declared dead). */
  | 'gateway_fenced'
  | 'error';

/**
 * A supervisor's terminate, kept on the session's record in the same update that writes `session.terminated`:
 * the node that holds the session closes it whenever it reads this, so the close does not hang on one message.
 */
export interface TerminateRequest {
  at: string;
  /** The user id of who asked, and their name as the vendor is told it. */
  by: string;
  byName: string;
  reason: string;
  /** The line the vendor is shown when the session closes. */
  message: string;
}

export interface SessionRecord {
  id: string; // ses_…
  grantId: string;
  requestId: string;
  userId: string;
  targetId: string;
  protocol: Protocol;
  via: 'ssh' | 'web' | 'rdp';
  startedAt: string;
  endedAt?: string;
  endReason?: SessionEndReason;
  /** keystrokes: the recording holds the vendor's input ("i" events); absent on recordings made before it was a choice. */
  recording?: { path: string; sha256?: string; bytes?: number; incomplete?: boolean; keystrokes?: boolean };
  sourceIp?: string;
  /** The gateway node that holds the live session (config `node.id`); absent on a single node. */
  node?: string;
  /** Set by a terminate; the holder ends the session as `terminated` when it sees it (sweep, notification, start-up). */
  terminateRequested?: TerminateRequest;
}

export interface CommandRecord {
  id: string; // cmd_…
  sessionId: string;
  at: string;
  text: string;
  verdict: 'allowed' | 'alerted' | 'blocked';
  rule?: string;
}
