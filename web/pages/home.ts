// Home: who you are, your roles, and whether your second factor is ready.
import type { Me } from '../api.js';
import { h } from '../dom.js';
import { followPending } from '../pending-count.js';
import { registerPage } from '../router.js';
import { promptStepUp } from '../step-up.js';

const roleText: Record<string, string> = {
  vendor: 'Vendor: request time-boxed access to a target and connect to it',
  supervisor: 'Supervisor: approve requests for your targets, watch and end sessions',
  auditor: 'Auditor: review the audit trail, replay sessions, export evidence',
  admin: 'Admin: everything a supervisor and an auditor can do',
};

registerPage({
  path: '/',
  title: 'Home',
  nav: true,
  render({ me, main, navigate, refreshMe }) {
    const stepUp = me.stepUpUntil && Date.parse(me.stepUpUntil) > Date.now() ? me.stepUpUntil : null;
    const totpCard = me.totpEnrolled
      ? h(
          'section',
          { class: 'card', id: 'stepup-status' },
          h('h2', {}, 'Verification'),
          h(
            'p',
            { id: 'stepup-until' },
            stepUp
              ? `Verified until ${new Date(stepUp).toLocaleTimeString()}.`
              : 'Sensitive actions will ask for a fresh code from your authenticator.',
          ),
          h(
            'button',
            {
              id: 'stepup-now',
              onclick: async () => {
                if (
                  await promptStepUp(`Verify now to skip the prompt for the next ${me.stepUpMinutes ?? 15} minutes.`)
                ) {
                  await refreshMe();
                  navigate('/');
                }
              },
            },
            'Verify now',
          ),
        )
      : h(
          'section',
          { class: 'card', id: 'totp-missing' },
          h('h2', {}, 'Set up your authenticator'),
          h('p', {}, 'Gatehouse needs a second factor (TOTP) before you can request, approve or connect.'),
          h('button', { id: 'go-enrol', onclick: () => navigate('/security') }, 'Set up now'),
        );
    main.append(
      h(
        'section',
        { class: 'card' },
        h('h1', {}, `Welcome, ${me.name}`),
        h('p', { class: 'muted' }, `${me.email} · ${me.org}`),
        h('ul', { id: 'roles' }, ...me.roles.map((r) => h('li', { 'data-role': r }, roleText[r] ?? r))),
      ),
      // What waits for a decision comes before the routine cards: it is what a supervisor signs in for.
      ...[pendingCard(me)].filter((c) => c !== null),
      totpCard,
    );
  },
});

/**
 * For those who decide: how many requests wait for them, as a link to the queue, kept live. Why on Home as well as
 * beside "Approvals": a supervisor who signs in lands here, and the number must lead somewhere.
 */
function pendingCard(me: Me): HTMLElement | null {
  if (!me.roles.includes('supervisor') && !me.roles.includes('admin')) return null;
  const link = h('a', { href: '/approvals', 'data-nav': true, id: 'home-pending-link', class: 'button' }, 'Approvals');
  const text = h('p', { id: 'home-pending', 'data-count': '' }, 'Counting the requests that wait for you…');
  const card = h('section', { class: 'card', id: 'home-pending-card' }, h('h2', {}, 'Waiting for you'), text, link);
  const paint = (n: number) => {
    text.dataset.count = String(n);
    text.textContent =
      n === 0
        ? 'No request is waiting for your decision.'
        : `${n} ${n === 1 ? 'request is' : 'requests are'} waiting for your decision.`;
    link.textContent = n === 0 ? 'Open approvals' : `Decide now (${n})`;
  };
  followPending(me, card, paint, () => {
    text.textContent = 'The number of waiting requests could not be loaded.';
  });
  return card;
}
