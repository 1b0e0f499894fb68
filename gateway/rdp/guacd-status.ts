// What guacd's `error` instruction means for a session: the end reason the audit keeps and the sentence the
// vendor reads, from the Guacamole status code and guacd's message (its RDP plugin maps FreeRDP's errors onto a
// few codes, so some need the message too: 519 is a refused certificate, a failed lookup or an unreachable host).
import type { SessionEndReason } from '../core/model.js';

/** Guacamole protocol status codes guacd sends (libguac's guac_protocol_status). */
export const GUAC_STATUS = {
  SUCCESS: 0x0000,
  UNSUPPORTED: 0x0100,
  SERVER_ERROR: 0x0200,
  SERVER_BUSY: 0x0201,
  UPSTREAM_TIMEOUT: 0x0202,
  UPSTREAM_ERROR: 0x0203,
  RESOURCE_NOT_FOUND: 0x0204,
  RESOURCE_CONFLICT: 0x0205,
  RESOURCE_CLOSED: 0x0206,
  UPSTREAM_NOT_FOUND: 0x0207,
  UPSTREAM_UNAVAILABLE: 0x0208,
  SESSION_CONFLICT: 0x0209,
  SESSION_TIMEOUT: 0x020a,
  SESSION_CLOSED: 0x020b,
  CLIENT_BAD_REQUEST: 0x0300,
  CLIENT_UNAUTHORIZED: 0x0301,
  CLIENT_FORBIDDEN: 0x0303,
  CLIENT_TIMEOUT: 0x0308,
  CLIENT_OVERRUN: 0x030d,
  CLIENT_BAD_TYPE: 0x030f,
  CLIENT_TOO_MANY: 0x031d,
} as const;

export interface GuacdEndMeaning {
  reason: SessionEndReason;
  /** For the vendor's page and the audit trail; never holds a credential (guacd's messages do not either). */
  message: string;
}

/** How the target's certificate was to be checked: against a pin, against the trust store, or not at all. */
export type CertCheck = 'pinned' | 'trust-store' | 'ignored';

/** guacd's `error` (status and message, as guacd sent them) as an end reason and a sentence. */
export function meaningOfGuacdError(status: number, guacdMessage: string, cert: CertCheck): GuacdEndMeaning {
  const S = GUAC_STATUS;
  const said = guacdMessage.slice(0, 200);
  const error = (message: string): GuacdEndMeaning => ({ reason: 'error', message });
  const ended = (message: string): GuacdEndMeaning => ({ reason: 'target_closed', message });
  switch (status) {
    case S.SUCCESS:
      return ended(`the remote desktop session ended (${said || 'disconnected'})`);
    case S.SESSION_CLOSED:
      return ended(`the workstation closed the desktop session (${said})`);
    case S.SESSION_TIMEOUT:
      return ended(`the workstation ended the desktop session for its time limit (${said})`);
    case S.SESSION_CONFLICT:
      return ended('someone else signed in to this desktop and took it over');
    case S.UPSTREAM_NOT_FOUND:
      if (/SSL|TLS|certificate/i.test(said))
        return error(
          cert === 'pinned'
            ? "the workstation's certificate does not match the pinned one; tell the site admin (it may have been replaced, or another machine answers on its address)"
            : "the workstation's certificate is not trusted; tell the site admin (pin it with gatehouse rdp-cert)",
        );
      if (/DNS/i.test(said)) return error(`the workstation's name could not be resolved (${said})`);
      return error(
        `the workstation could not be reached: it may be off, or not reachable from the remote desktop service (${said})`,
      );
    case S.UPSTREAM_UNAVAILABLE:
      return error(`the workstation refused or dropped the connection (${said})`);
    case S.UPSTREAM_TIMEOUT:
      return error(`the workstation took too long to answer (${said})`);
    case S.UPSTREAM_ERROR:
      return error(`the workstation reported an error (${said})`);
    case S.CLIENT_UNAUTHORIZED:
      return error(`the workstation refused the sign-in Gatehouse holds for it; tell the site admin (${said})`);
    case S.CLIENT_FORBIDDEN:
      return error(`the workstation denied access to the account; tell the site admin (${said})`);
    default:
      return error(
        `the remote desktop service (guacd) ended the connection (${said || 'no reason given'}, status ${status})`,
      );
  }
}

/** How a target's certificate is checked, from its config. */
export function certCheckOf(rdp: { certSha256?: string | undefined; ignoreCert: boolean }): CertCheck {
  return rdp.certSha256 ? 'pinned' : rdp.ignoreCert ? 'ignored' : 'trust-store';
}
