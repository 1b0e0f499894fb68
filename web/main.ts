// Browser entry: the page frame. Later issues add their pages to the router below.
import { renderFrame } from './frame.js';

renderFrame(document).catch((err: unknown) => {
  const main = document.getElementById('main');
  if (main) main.textContent = `Gatehouse could not load: ${err instanceof Error ? err.message : String(err)}`;
});
