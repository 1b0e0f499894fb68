// The current screen of a headless terminal as the escape sequences that redraw it: a live viewer who joins
// mid-session starts from what the vendor sees now, and an idle capture terminal is kept as this string alone.
import serialize from '@xterm/addon-serialize';
import type xterm from '@xterm/headless';

export interface ScreenSnapshot {
  data: string;
  cols: number;
  rows: number;
}

const addons = new WeakMap<xterm.Terminal, serialize.SerializeAddon>();

/**
 * Call once everything received so far is parsed (TerminalFeed.whenParsed). Scrollback is left out unless asked
 * for: the screen is enough for a viewer. Modes (cursor keys, wrap, origin…) and the alternate screen are kept.
 */
export function snapshotScreen(term: xterm.Terminal, scrollback = 0): ScreenSnapshot {
  let addon = addons.get(term);
  if (!addon) {
    addon = new serialize.SerializeAddon();
    term.loadAddon(addon);
    addons.set(term, addon);
  }
  return { data: addon.serialize({ scrollback }), cols: term.cols, rows: term.rows };
}
