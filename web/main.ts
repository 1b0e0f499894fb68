// Browser entry: registers the pages, then renders the frame. Later issues add their pages here.
import { renderFrame } from './frame.js';
import './pages/home.js';
import './pages/security.js';
// /requests/new must register before /requests/:id: the router takes the first pattern that matches.
import './pages/requests.js';
import './pages/approvals.js';
import './pages/request-detail.js';
import './pages/keys.js';
import './pages/terminal.js';
import './pages/watch.js';
import './pages/rdp.js';
import './pages/sessions.js';
import './pages/replay.js';
import './pages/commands.js';
import './pages/audit.js';
import './pages/evidence.js';

renderFrame(document).catch((err: unknown) => {
  const main = document.getElementById('main');
  if (main)
    main.textContent = `Gatehouse could not load: ${err instanceof Error ? err.message : String(err)}`;
});
