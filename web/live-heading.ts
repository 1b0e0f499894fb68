// The heading of a live view (terminal or remote desktop): who is connected to what, named as the rest of the UI
// names them — the vendor's name with their company (or e-mail) to tell two people of one name apart, and the
// target's name — from the session's record, never the raw user id.
import { api } from './api.js';
import { clear, h } from './dom.js';
import type { SessionPageView } from './session-types.js';

export interface LiveHeading {
  /** What the live socket says before (or without) the record: used only until the record has answered. */
  provisional(vendor: string, targetId: string): void;
  /** The vendor's display name, for alert texts (the provisional one until the record answers). */
  vendorName(): string;
}

export function liveHeading(heading: HTMLElement, sessionId: string): LiveHeading {
  let named = false;
  let vendorName = '';
  void api<SessionPageView>('GET', `/api/sessions/${encodeURIComponent(sessionId)}`)
    .then((s) => {
      if (!heading.isConnected) return;
      named = true;
      vendorName = s.vendor.name;
      heading.dataset.vendor = s.vendor.id;
      heading.dataset.target = s.target.id;
      const who = s.vendor.org || s.vendor.email;
      clear(
        heading,
        'Live: ',
        h('span', { class: 'live-vendor' }, s.vendor.name),
        who ? h('span', { class: 'muted live-vendor-org' }, ` (${who})`) : null,
        ' on ',
        h('span', { class: 'live-target', title: s.target.id }, s.target.name),
      );
    })
    // Not answered (a blip, a record not readable here): the socket's words stay.
    .catch(() => undefined);
  return {
    provisional(vendor, targetId) {
      if (named) return;
      vendorName = vendor;
      heading.dataset.target = targetId;
      clear(heading, `Live: ${vendor} on ${targetId}`);
    },
    vendorName: () => vendorName,
  };
}
