// A guacamole-common-js remote desktop inside a page element: the display scaled to fit, and — for the vendor —
// mouse, keyboard (while the display has focus) and resize; a read-only view gets the picture only.
import Guacamole from 'guacamole-common-js';
import { wsUrl } from '../terminal/socket.js';
import { type GatehouseMessage, GatehouseTunnel } from './rdp-tunnel.js';

export interface DesktopHandlers {
  gatehouse(msg: GatehouseMessage): void;
  /** A Guacamole error (from guacd, or the tunnel failing), as a sentence for the person at the screen. */
  error(text: string): void;
  closed(code: number, reason: string): void;
  /** The first frame is on the screen (until then the page must not say "Connected"). */
  drawn?(): void;
}

export interface DesktopView {
  client: Guacamole.Client;
  /** Sends Ctrl+Alt+Del (the browser keeps that combination for itself). */
  ctrlAltDel(): void;
  dispose(): void;
}

/** What a Guacamole status means to the vendor (guacd's codes: upstream = the target, client = the login). */
export function describeStatus(code: number, message: string): string {
  const detail = message && !/^\d+$/.test(message) ? ` (${message})` : '';
  switch (code) {
    case 0x0207:
      // guacd uses 519 for a refused certificate too (the gateway's own `ended` message says which; a viewer may get guacd's).
      if (/SSL|TLS|certificate/i.test(message)) return `The workstation's certificate was refused${detail}.`;
      return `The workstation could not be reached: it may be off, or not reachable from the remote desktop service${detail}.`;
    case 0x0208:
      return `The workstation refused or dropped the connection${detail}.`;
    case 0x0202:
      return `The target took too long to answer${detail}.`;
    case 0x0203:
      return `The target reported an error${detail}.`;
    case 0x0209:
      return 'Someone else took over this desktop (another remote desktop login).';
    case 0x0301:
      return "The target refused the login Gatehouse holds for it: tell the site's Gatehouse admin.";
    case 0x0200:
    case 0x0201:
      return `The remote desktop service (guacd) failed${detail}.`;
    default:
      return message || 'The remote desktop connection ended.';
  }
}

const KEY = { ctrl: 0xffe3, alt: 0xffe9, del: 0xffff };

export function mountDesktop(
  container: HTMLElement,
  path: string,
  o: { interactive: boolean; on: DesktopHandlers },
): DesktopView {
  const tunnel = new GatehouseTunnel(wsUrl(path), {
    gatehouse: o.on.gatehouse,
    closed: o.on.closed,
    ...(o.on.drawn ? { drawn: o.on.drawn } : {}),
  });
  const client = new Guacamole.Client(tunnel);
  const display = client.getDisplay();
  const element = display.getElement();
  container.replaceChildren(element);

  // Fit the remote screen into the page's width (never enlarged: a blurred desktop is worse than a smaller one).
  const fit = () => {
    const w = display.getWidth();
    if (w > 0) display.scale(Math.min(1, container.clientWidth / w));
  };
  display.onresize = fit;
  let resizeTimer: number | undefined;
  const onWindowResize = () => {
    fit();
    if (!o.interactive) return;
    window.clearTimeout(resizeTimer);
    // The remote screen follows the window (guacd's display-update), once the window stops moving.
    resizeTimer = window.setTimeout(
      () =>
        client.sendSize(
          container.clientWidth,
          Math.max(200, window.innerHeight - container.getBoundingClientRect().top - 16),
        ),
      400,
    );
  };
  window.addEventListener('resize', onWindowResize);

  client.onerror = (status) => o.on.error(describeStatus(status.code, status.message ?? ''));
  // Gatehouse never gives the vendor the target's credentials: a prompt for them is answered with nothing.
  client.onrequired = () => undefined;

  let keyboard: Guacamole.Keyboard | undefined;
  if (o.interactive) {
    const mouse = new Guacamole.Mouse(element);
    mouse.onEach(['mousedown', 'mousemove', 'mouseup'], (e) => {
      container.focus();
      client.sendMouseState((e as unknown as Guacamole.Mouse.Event).state, true);
    });
    // Keys go to the desktop only while it has focus, so the rest of the page stays usable.
    container.tabIndex = 0;
    keyboard = new Guacamole.Keyboard(container);
    keyboard.onkeydown = (keysym) => {
      client.sendKeyEvent(1, keysym);
      return false;
    };
    keyboard.onkeyup = (keysym) => client.sendKeyEvent(0, keysym);
    container.addEventListener('blur', () => keyboard?.reset());
  }

  client.connect();

  return {
    client,
    ctrlAltDel() {
      for (const k of [KEY.ctrl, KEY.alt, KEY.del]) client.sendKeyEvent(1, k);
      for (const k of [KEY.del, KEY.alt, KEY.ctrl]) client.sendKeyEvent(0, k);
    },
    dispose() {
      window.removeEventListener('resize', onWindowResize);
      window.clearTimeout(resizeTimer);
      if (keyboard) {
        keyboard.onkeydown = null;
        keyboard.onkeyup = null;
      }
      client.disconnect();
    },
  };
}
