// Browser entry: registers the pages, then renders the frame. Later issues add their pages here.
import { renderFrame } from './frame.js';
import { registerLazyPage } from './router.js';
import './pages/home.js';
import './pages/security.js';
// /requests/new must register before /requests/:id: the router takes the first pattern that matches.
import './pages/requests.js';
import './pages/approvals.js';
import './pages/history.js';
import './pages/request-detail.js';
import './pages/keys.js';
import './pages/sessions.js';
import './pages/commands.js';
import './pages/audit.js';
import './pages/evidence.js';

// The pages that need xterm.js, asciinema-player or guacamole-common-js load with their library on first visit
// (separate chunks, scripts/build-web.js): the rest of the app never downloads them.
registerLazyPage(
  { path: '/connect/:grantId', title: 'Terminal', roles: ['vendor'] },
  () => import('./pages/terminal.js'),
);
registerLazyPage(
  { path: '/sessions/:id/watch', title: 'Live session', roles: ['supervisor', 'auditor', 'admin'] },
  () => import('./pages/watch.js'),
);
registerLazyPage({ path: '/rdp/:grantId', title: 'Remote desktop', roles: ['vendor'] }, () => import('./pages/rdp.js'));
registerLazyPage(
  { path: '/rdp/watch/:sessionId', title: 'Live remote desktop', roles: ['supervisor', 'auditor', 'admin'] },
  () => import('./pages/rdp-watch.js'),
);
registerLazyPage(
  { path: '/sessions/:id', title: 'Session', roles: ['vendor', 'supervisor', 'auditor', 'admin'] },
  () => import('./pages/replay.js'),
);

renderFrame(document).catch((err: unknown) => {
  const main = document.getElementById('main');
  if (main) main.textContent = `Gatehouse could not load: ${err instanceof Error ? err.message : String(err)}`;
});
