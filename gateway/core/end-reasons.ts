// How a session ended, in words: the one vocabulary the pages, the request context and the evidence report share.
import type { SessionEndReason } from './model.js';

export const END_REASONS: Readonly<Record<SessionEndReason, string>> = {
  client_closed: 'closed by the vendor',
  target_closed: 'closed by the target',
  window_ended: 'access window ended',
  revoked: 'access revoked by a supervisor',
  terminated: 'terminated by a supervisor',
  recording_failed: 'recording failed',
  gateway_stopped: 'gateway stopped',
  gateway_crashed: 'gateway crashed',
  gateway_fenced: 'gateway node cut off from the database',
  error: 'ended after an error',
};

export const END_REASON_KEYS = Object.keys(END_REASONS) as SessionEndReason[];

/** The words for a stored reason; an unknown one (a newer gateway's) is shown as stored, none as "—". */
export const endReasonText = (r: string | null | undefined): string =>
  r ? ((END_REASONS as Record<string, string>)[r] ?? r) : '—';
