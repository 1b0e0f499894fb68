// Home: who you are, your roles, and whether your second factor is ready.
import { h } from '../dom.js';
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
      totpCard,
    );
  },
});
