// Replays a guacd recording (.guac) in a page: fetched same-origin (e.g. GET /api/sessions/:id/recording, which
// audits the viewing), played with guacamole-common-js's SessionRecording, with play/pause, seek and the time.
// Reusable: mountGuacReplay(element, url) from any page (the auditor's session page plugs it in for RDP sessions).
import Guacamole from 'guacamole-common-js';
import { clear, h } from './dom.js';
import { parseInstructions } from './pages/rdp-tunnel.js';

/**
 * The recording's text as a tunnel that plays it out, in batches so a long recording does not freeze the page.
 * Why not `new SessionRecording(blob)` or StaticHTTPTunnel: in the guacamole-common-js build we ship, the Blob
 * path never sets its blob and StaticHTTPTunnel needs a Guacamole.UTF8Parser the build lacks.
 */
class TextTunnel extends Guacamole.Tunnel {
  /** The text ends in something that is no whole instruction (a recording torn by a crash plays up to there). */
  damaged = false;

  constructor(text: string) {
    super();
    const move = (state: Guacamole.Tunnel.State) => {
      this.state = state;
      this.onstatechange?.(state);
    };
    this.connect = () => {
      move(Guacamole.Tunnel.State.OPEN);
      const r = parseInstructions(text);
      let at = 0;
      const feed = () => {
        if (this.state === Guacamole.Tunnel.State.CLOSED) return;
        for (const end = Math.min(at + 5000, r.instructions.length); at < end; at++) {
          const [opcode, args] = r.instructions[at]!;
          this.oninstruction?.(opcode, args);
        }
        if (at < r.instructions.length) return void window.setTimeout(feed, 0);
        this.damaged = r.malformed || r.consumed < text.length;
        move(Guacamole.Tunnel.State.CLOSED);
      };
      feed();
    };
    this.disconnect = () => move(Guacamole.Tunnel.State.CLOSED);
    this.sendMessage = () => undefined;
  }
}

export interface GuacReplay {
  recording: Guacamole.SessionRecording;
  /** Resolves once the whole recording is parsed (seekable to its end); rejects if it cannot be played. */
  loaded: Promise<void>;
  dispose(): void;
}

/** Seconds with a tenth: the same clock as the terminal replay's, so the two players read alike. */
const clock = (ms: number) => `${(Math.max(0, ms) / 1000).toFixed(1)} s`;

/** Fetches `url` and mounts a player for it in `container` (its content is replaced). */
export async function mountGuacReplay(
  container: HTMLElement,
  url: string,
  o: { autoplay?: boolean } = {},
): Promise<GuacReplay> {
  const status = h('p', { class: 'muted guac-replay-status', role: 'status' }, 'Loading the recording…');
  clear(container, status);
  const res = await fetch(url, { credentials: 'same-origin', headers: { accept: 'application/octet-stream' } });
  if (!res.ok) {
    const body = (await res.json().catch(() => undefined)) as { error?: { message?: string } } | undefined;
    const message = body?.error?.message ?? `the recording could not be loaded (HTTP ${res.status})`;
    status.className = 'error';
    status.textContent = message;
    throw new Error(message);
  }
  const tunnel = new TextTunnel(await res.text());
  const recording = new Guacamole.SessionRecording(tunnel);
  const display = recording.getDisplay();
  const screen = h('div', { class: 'guac-replay-screen' });
  screen.style.overflow = 'hidden';
  screen.append(display.getElement());
  const playIcon = h('span', { class: 'icon', 'aria-hidden': 'true' }, '▶');
  const playText = h('span', {}, 'Play');
  const play = h('button', { type: 'button', class: 'guac-replay-play', disabled: true }, playIcon, ' ', playText);
  const playing = (on: boolean) => {
    playIcon.textContent = on ? '⏸' : '▶';
    playText.textContent = on ? 'Pause' : 'Play';
  };
  const seek = h('input', {
    type: 'range',
    class: 'guac-replay-seek',
    min: 0,
    max: 0,
    value: 0,
    step: 100,
    disabled: true,
    'aria-label': 'Position',
  });
  const time = h('span', { class: 'guac-replay-time muted' }, `${clock(0)} / ${clock(0)}`);
  clear(container, h('p', { class: 'guac-replay-controls' }, play, ' ', seek, ' ', time), status, screen);

  const fit = () => {
    const w = display.getWidth();
    if (w > 0) display.scale(Math.min(1, (container.clientWidth || w) / w));
  };
  display.onresize = fit;
  const show = (position: number) => {
    seek.value = String(position);
    time.textContent = `${clock(position)} / ${clock(recording.getDuration())}`;
  };
  recording.onprogress = (duration) => {
    seek.max = String(duration);
    show(recording.getPosition());
  };
  recording.onseek = (position) => show(position);
  recording.onplay = () => playing(true);
  recording.onpause = () => playing(false);
  play.addEventListener('click', () => (recording.isPlaying() ? recording.pause() : recording.play()));
  seek.addEventListener('input', () => recording.seek(Number(seek.value)));

  const loaded = new Promise<void>((resolve, reject) => {
    recording.onload = () => {
      play.disabled = false;
      seek.disabled = false;
      seek.max = String(recording.getDuration());
      status.textContent = tunnel.damaged ? 'The recording is damaged after some point; it plays up to there.' : '';
      show(0);
      fit();
      resolve();
      if (o.autoplay) recording.play();
    };
    recording.onerror = (message) => {
      status.className = 'error';
      status.textContent = `The recording cannot be played: ${message}`;
      reject(new Error(message));
    };
  });
  loaded.catch(() => undefined);
  recording.connect();
  window.addEventListener('resize', fit);
  return {
    recording,
    loaded,
    dispose() {
      window.removeEventListener('resize', fit);
      recording.pause();
      recording.abort();
    },
  };
}
