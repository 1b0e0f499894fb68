// xterm.js, bundled (no CDN), set up the same way for the vendor's terminal and the supervisor's live view.
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';

export interface XtermView {
  term: Terminal;
  fit: FitAddon;
  dispose(): void;
}

/**
 * Why the options: recorded and live output may carry hostile sequences. xterm.js answers some reports
 * (DA, cursor position) by design — on the vendor's own terminal that is the shell's business, and in the
 * read-only view the answers go nowhere (nothing is sent back). OSC 52 clipboard writes need an addon we do
 * not load; links open only on explicit click, never by themselves.
 */
export function createXterm(host: HTMLElement, opts: { readOnly: boolean; cols?: number; rows?: number }): XtermView {
  const term = new Terminal({
    cursorBlink: !opts.readOnly,
    disableStdin: opts.readOnly,
    convertEol: false,
    scrollback: 5000,
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
    fontSize: 14,
    ...(opts.cols ? { cols: opts.cols } : {}),
    ...(opts.rows ? { rows: opts.rows } : {}),
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(host);
  const onResize = () => {
    if (!opts.readOnly) fit.fit();
  };
  if (!opts.readOnly) fit.fit();
  window.addEventListener('resize', onResize);
  return {
    term,
    fit,
    dispose() {
      window.removeEventListener('resize', onResize);
      term.dispose();
    },
  };
}
