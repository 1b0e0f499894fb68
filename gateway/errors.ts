// Typed errors: adapters wrap library errors into these (keeping the original as `cause`);
// http/errors.ts is the only place that turns them into HTTP responses.

export type ErrorKind =
  | 'invalid_input'
  | 'unauthenticated'
  | 'denied'
  | 'not_found'
  | 'conflict'
  | 'too_large'
  | 'rate_limited'
  | 'unavailable'
  | 'internal';

/**
 * Every code a GatehouseError carries: what a client gets in `{ error: { code, message } }` (and the CLI in its
 * error line). snake_case, stable, matched on by clients and tests. One list, so a typo in a code fails to
 * compile; adding one is fine, renaming one breaks clients.
 */
export const ERROR_CODES = [
  'already_decided',
  'already_ended',
  'audit_chain_broken',
  'audit_closed',
  'audit_key_copy',
  'audit_key_mismatch',
  'audit_key_missing',
  'audit_log_broken',
  'audit_log_missing',
  'audit_write_failed',
  'bad_audit_event',
  'bad_option',
  'bad_request',
  'body_too_large',
  'browser_refused',
  'code_required',
  'command_log_write_failed',
  'commands_closed',
  'config_invalid',
  'copy_mismatch',
  'credential_unavailable',
  'csrf_failed',
  'directory_unavailable',
  'emergency_reason_required',
  'export_busy',
  'forbidden',
  'grant_closed',
  'grant_denied',
  'grant_ended',
  'grant_expired',
  'grant_not_ended',
  'grant_pending',
  'grant_revoked',
  'grant_started',
  'guacd_unreachable',
  'held_elsewhere',
  'holder_unknown',
  'holder_unreachable',
  'hostkey_mismatch',
  'idp_error',
  'idp_unavailable',
  'internal_error',
  'invalid_actor',
  'invalid_before',
  'invalid_body',
  'invalid_command_rule',
  'invalid_comment',
  'invalid_decision',
  'invalid_duration',
  'invalid_emergency',
  'invalid_emergency_reason',
  'invalid_end_reason',
  'invalid_frame',
  'invalid_from',
  'invalid_json',
  'invalid_limit',
  'invalid_live',
  'invalid_offset',
  'invalid_org',
  'invalid_period',
  'invalid_protocol',
  'invalid_public_key',
  'invalid_purpose',
  'invalid_q',
  'invalid_query',
  'invalid_reason',
  'invalid_recording_kind',
  'invalid_recording_path',
  'invalid_session',
  'invalid_session_id',
  'invalid_session_start',
  'invalid_size',
  'invalid_start',
  'invalid_state',
  'invalid_target',
  'invalid_ticket',
  'invalid_to',
  'invalid_type',
  'invalid_vendor',
  'invalid_verdict',
  'invalid_zone',
  'key_exists',
  'key_in_use',
  'key_not_found',
  'login_failed',
  'login_required',
  'login_state_mismatch',
  'message_too_large',
  'no_grant',
  'no_role',
  'node_fenced',
  'node_in_use',
  'not_approved',
  'not_approver',
  'not_found',
  'not_held',
  'not_live',
  'not_pending',
  'not_requester',
  'not_watchable',
  'origin_refused',
  'outside_window',
  'own_session',
  'pack_exists',
  'period_too_long',
  'plc_log_closed',
  'plc_log_write_failed',
  'private_key_sent',
  'protocol_not_available',
  'public_key_required',
  'rate_limited',
  'rdp_busy',
  'rdp_token_expired',
  'rdp_token_foreign',
  'rdp_token_invalid',
  'reason_required',
  'recording_missing',
  'recording_unrepairable',
  'relay_busy',
  'relay_refused',
  'relay_token_expired',
  'relay_token_invalid',
  'relay_token_missing',
  'relay_token_replayed',
  'relay_token_wrong_node',
  'relay_token_wrong_purpose',
  'relay_token_wrong_session',
  'request_expired',
  'role_required',
  'self_approval',
  'session_ended',
  'session_exists',
  'session_expired',
  'signing_key_invalid',
  'signing_key_unreadable',
  'start_in_past',
  'start_too_far',
  'stepup_required',
  'storage_closed',
  'storage_corrupt',
  'storage_invalid',
  'storage_key_conflict',
  'storage_locked',
  'storage_not_empty',
  'storage_too_new',
  'storage_unavailable',
  'storage_write_failed',
  'store_without_audit',
  'target_auth_failed',
  'target_unknown',
  'target_unreachable',
  'too_many_keys',
  'too_many_pending',
  'too_many_streams',
  'totp_already_enrolled',
  'totp_invalid',
  'totp_key_invalid',
  'totp_locked',
  'totp_not_enrolled',
  'totp_replayed',
  'totp_secret_unreadable',
  'unknown_field',
  'unknown_parameter',
  'unknown_target',
  'unsupported_encoding',
  'unsupported_key_type',
  'user_not_found',
  'weak_key',
  'window_not_ended',
  'window_not_started',
  'wrong_protocol',
  'wrong_target',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

const statusOfKind: Record<ErrorKind, number> = {
  invalid_input: 400,
  unauthenticated: 401,
  denied: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
};

export class GatehouseError extends Error {
  readonly kind: ErrorKind;
  /** snake_case, stable: clients and tests match on it (`grant_expired`, `stepup_required`). */
  readonly code: ErrorCode;

  constructor(kind: ErrorKind, code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GatehouseError';
    this.kind = kind;
    this.code = code;
  }

  get status(): number {
    return statusOfKind[this.kind];
  }

  /**
   * What a client may see; details of internal errors stay in the log. A storage fault and a fenced node are the
   * exceptions: their one-line reason (file name and errno, no path; "this node lost its database") is what the
   * user or the operator needs to act on.
   */
  toJSON(): { error: { code: ErrorCode; message: string } } {
    if (this.status >= 500 && this.code !== 'storage_unavailable' && this.code !== 'node_fenced')
      return { error: { code: 'internal_error', message: 'internal error' } };
    return { error: { code: this.code, message: this.message } };
  }
}

export const invalidInput = (code: ErrorCode, message: string, cause?: unknown) =>
  new GatehouseError('invalid_input', code, message, { cause });
export const unauthenticated = (code: ErrorCode, message: string) =>
  new GatehouseError('unauthenticated', code, message);
export const denied = (code: ErrorCode, message: string) => new GatehouseError('denied', code, message);
export const notFound = (code: ErrorCode, message: string) => new GatehouseError('not_found', code, message);
export const conflict = (code: ErrorCode, message: string) => new GatehouseError('conflict', code, message);
export const unavailable = (code: ErrorCode, message: string, cause?: unknown) =>
  new GatehouseError('unavailable', code, message, { cause });
export const internal = (code: ErrorCode, message: string, cause?: unknown) =>
  new GatehouseError('internal', code, message, { cause });

export const isGatehouseError = (e: unknown): e is GatehouseError => e instanceof GatehouseError;
