// Browser entry: registers the pages, then renders the frame. Later issues add their pages here.
import { renderFrame } from './frame.js';
import './pages/home.js';
import './pages/security.js';

renderFrame(document).catch((err: unknown) => {
  const main = document.getElementById('main');
  if (main)
    main.textContent = `Gatehouse could not load: ${err instanceof Error ? err.message : String(err)}`;
});
