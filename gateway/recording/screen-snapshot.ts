// The current screen of a headless terminal as the escape sequences that redraw it: a live viewer who joins
// mid-session starts from what the vendor sees now, not from a blank screen.
import serialize from '@xterm/addon-serialize';
import type xterm from '@xterm/headless';

export interface ScreenSnapshot {
  data: string;
  cols: number;
  rows: number;
}

const addons = new WeakMap<xterm.Terminal, serialize.SerializeAddon>();

/** Call once everything received so far is parsed (TerminalFeed.whenParsed). Scrollback is left out: the screen is enough. */
export function snapshotScreen(term: xterm.Terminal): ScreenSnapshot {
  let addon = addons.get(term);
  if (!addon) {
    addon = new serialize.SerializeAddon();
    term.loadAddon(addon);
    addons.set(term, addon);
  }
  return { data: addon.serialize({ scrollback: 0 }), cols: term.cols, rows: term.rows };
}
