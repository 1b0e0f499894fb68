// Evidence packs (/evidence): an auditor picks a period and downloads the signed pack (GET /api/evidence) for an
// assessor without an account; `gatehouse evidence verify pack.zip` checks it offline. A pack with the recordings
// needs a fresh step-up: the page asks for the code first.
import { h } from '../dom.js';
import { registerPage } from '../router.js';
import { promptStepUp } from '../step-up.js';

const DAY = 86_400_000;
const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
/**
 * Asked for before the download when less than this is left. Why a margin rather than a retry: the download is a
 * plain link the browser streams to disk (a pack with recordings can be large), so a refusal would only show as a
 * failed entry in the browser's download list.
 */
const STEP_UP_MARGIN_MS = 120_000;
const freshFor = (until: string | null, ms: number) => until !== null && Date.parse(until) - ms > Date.now();

registerPage({
  path: '/evidence',
  title: 'Evidence',
  roles: ['auditor', 'admin'],
  nav: true,
  render({ me, main, refreshMe }) {
    const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
    const from = h('input', {
      id: 'ev-from',
      name: 'from',
      type: 'date',
      required: true,
      value: isoDay(today - 30 * DAY),
    });
    const to = h('input', { id: 'ev-to', name: 'to', type: 'date', required: true, value: isoDay(today) });
    const withRecordings = h('input', { id: 'ev-recordings', name: 'recordings', type: 'checkbox' });
    const error = h('p', { class: 'error', role: 'alert', id: 'ev-error' });
    const exportButton = h('button', { type: 'submit', id: 'ev-export' }, 'Export signed pack');
    const form = h(
      'form',
      { id: 'evidence-form' },
      h('div', { class: 'field' }, h('label', { for: 'ev-from' }, 'From (UTC day, included)'), from),
      h('div', { class: 'field' }, h('label', { for: 'ev-to' }, 'To (UTC day, included)'), to),
      h(
        'p',
        {},
        withRecordings,
        ' ',
        h('label', { for: 'ev-recordings' }, 'Include the session recordings (large; asks for a verification code)'),
      ),
      error,
      h('p', {}, exportButton),
      me.totpEnrolled
        ? null
        : h(
            'p',
            { class: 'note' },
            'A pack with recordings needs a code from your authenticator: ',
            h('a', { href: '/security', 'data-nav': true }, 'set it up first'),
            '.',
          ),
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.textContent = '';
      const start = Date.parse(`${from.value}T00:00:00Z`);
      const end = Date.parse(`${to.value}T00:00:00Z`);
      if (Number.isNaN(start) || Number.isNaN(end) || end < start) {
        error.textContent = 'Choose a start day on or before the end day.';
        return;
      }
      // The API's period is [from, to): the end day is included by asking up to the next midnight.
      const q = new URLSearchParams({
        from: isoDay(start),
        to: isoDay(end + DAY),
        ...(withRecordings.checked ? { recordings: 'true' } : {}),
      });
      if (withRecordings.checked) {
        exportButton.disabled = true;
        try {
          const current = await refreshMe();
          if (!current.totpEnrolled) {
            error.textContent =
              'A pack with recordings needs a code from your authenticator: set it up on the Security page first.';
            return;
          }
          if (
            !freshFor(current.stepUpUntil, STEP_UP_MARGIN_MS) &&
            !(await promptStepUp('A pack with the recordings needs a fresh verification code.'))
          ) {
            error.textContent = 'A verification code is needed to export the recordings.';
            return;
          }
        } catch (err) {
          error.textContent = err instanceof Error ? err.message : 'the export failed';
          return;
        } finally {
          exportButton.disabled = false;
        }
      }
      // A plain download (the browser streams it to disk): a pack with recordings can be large.
      const a = h('a', { href: `/api/evidence?${q}`, download: '' });
      document.body.append(a);
      a.click();
      a.remove();
    });
    main.append(
      h(
        'section',
        { class: 'card' },
        h('h1', {}, 'Evidence pack'),
        h(
          'p',
          {},
          'A signed zip for the period: the audit trail with its chain, requests, sessions, commands, alerts, the asset inventory and a report by IEC 62443-2-1 area. The export is itself audited.',
        ),
        h('p', { class: 'muted' }, 'Check it anywhere, offline: ', h('code', {}, 'gatehouse evidence verify pack.zip')),
        form,
      ),
    );
  },
});
