// Replay (/sessions/:id?t=seconds): asciinema-player with the command markers as a jump list, speed, seek, and the integrity badge.
import { create, type Player } from 'asciinema-player';
import { ApiError, api } from '../api.js';
import { clear, h } from '../dom.js';
import { endReasonText } from '../../gateway/core/end-reasons.js';
import { fmtDateTime } from '../format.js';
import { mountGuacReplay } from '../rdp-replay.js';
import { registerPage } from '../router.js';
import type { CommandWithReason, Integrity, SessionPageView } from '../session-types.js';
import { fmtSeconds, statusBadge, watchPath } from '../session-ui.js';
import { plcOperationsCard } from '../plc-operations.js';

const SPEEDS = [0.5, 1, 2, 4, 8];
/** A ?t= from the search lands within this many seconds of its command's marker, and snaps onto it. */
const SNAP_SECONDS = 3;

interface Marker {
  time: number;
  label: string;
}

/** The player's stylesheet, bundled from node_modules (scripts/build-web.js), loaded once on first replay. */
function ensurePlayerCss(): void {
  if (document.getElementById('asciinema-player-css')) return;
  document.head.append(h('link', { rel: 'stylesheet', href: GATEHOUSE_PLAYER_CSS, id: 'asciinema-player-css' }));
}

/** The cast's size and markers. Lines that do not parse are skipped: the player is the judge of the rest. */
function readCast(text: string): { cols: number; rows: number; markers: Marker[] } {
  const lines = text.split('\n');
  let cols = 80;
  let rows = 24;
  try {
    const head = JSON.parse(lines[0] ?? '{}') as { width?: unknown; height?: unknown };
    if (typeof head.width === 'number' && head.width > 0 && head.width <= 1000) cols = head.width;
    if (typeof head.height === 'number' && head.height > 0 && head.height <= 1000) rows = head.height;
  } catch {
    // A broken header: the player will say so.
  }
  const markers: Marker[] = [];
  for (const line of lines.slice(1)) {
    if (!line.includes('"m"')) continue;
    try {
      const ev = JSON.parse(line) as unknown;
      if (Array.isArray(ev) && ev[1] === 'm' && typeof ev[0] === 'number' && typeof ev[2] === 'string')
        markers.push({ time: ev[0], label: ev[2] });
    } catch {
      // skipped
    }
  }
  return { cols, rows, markers };
}

const INTEGRITY_TEXT: Record<Integrity['state'], string> = {
  verified: 'Integrity verified: the file matches the SHA-256 sealed when the session ended',
  mismatch: 'INTEGRITY MISMATCH: the file differs from the SHA-256 sealed when the session ended',
  unsealed: 'Not sealed yet: the session is live, or the gateway stopped before sealing it',
  missing: 'The recording file is missing',
};

function integrityBadge(i: Integrity | undefined): HTMLElement {
  if (!i)
    return h(
      'p',
      { class: 'integrity integrity-unknown', id: 'integrity', 'data-state': 'unknown' },
      'Integrity could not be checked.',
    );
  return h(
    'div',
    { class: `integrity integrity-${i.state}`, id: 'integrity', 'data-state': i.state },
    h('strong', {}, INTEGRITY_TEXT[i.state]),
    h(
      'dl',
      { class: 'hashes' },
      h('dt', {}, 'Sealed'),
      h('dd', { class: 'mono', id: 'integrity-sealed' }, i.sealedSha256 ?? '—'),
      h('dt', {}, 'File now'),
      h('dd', { class: 'mono', id: 'integrity-actual' }, i.actualSha256 ?? '—'),
      h('dt', {}, 'Checked'),
      h('dd', {}, fmtDateTime(i.checkedAt)),
    ),
  );
}

/** The replay's one clock: seconds with a tenth, the same on the time display, the markers and the seek buttons. */
const secs = (t: number) => `${Math.max(0, t).toFixed(1)} s`;

/** "Terminated by Sam Supervisor at … — reason": who cut the session off and why, where a person did. */
function closedByText(s: SessionPageView): string | null {
  const c = s.closedBy;
  if (!c) return null;
  const what = c.action === 'terminated' ? 'Terminated' : 'Access revoked';
  return `${what} by ${c.by} at ${fmtDateTime(c.at)}${c.reason ? ` — ${c.reason}` : ''}`;
}

/** The holder's own end after the log had ended the session (its node was cut off from the database meanwhile). */
function lateEndText(s: SessionPageView): string | null {
  const l = s.lateEnd;
  if (!l) return null;
  return (
    `The session went on after it was recorded as ended: ${l.node ? `node ${l.node}` : 'its node'} ended it at ` +
    `${fmtDateTime(l.at)} (${endReasonText(l.reason)})`
  );
}

function context(s: SessionPageView): HTMLElement {
  const row = (term: string, ...desc: Array<Node | string | null>) => [h('dt', {}, term), h('dd', {}, ...desc)];
  return h(
    'dl',
    { class: 'context', id: 'session-context' },
    ...row(
      'Vendor',
      h('span', { id: 'session-vendor' }, s.vendor.name),
      ` · ${s.vendor.org} · `,
      h('span', { class: 'mono' }, s.vendor.email),
    ),
    ...row(
      'Target',
      h('span', { id: 'session-target' }, `${s.target.name} (${s.target.id})`),
      h('br'),
      h(
        'span',
        { class: 'muted' },
        `Zone ${s.target.zone ?? '—'} · SL ${s.target.securityLevel ?? '—'} · ${s.protocol.toUpperCase()} via ${s.via}`,
      ),
    ),
    ...row(
      'Time',
      `${fmtDateTime(s.startedAt)} – ${s.endedAt ? fmtDateTime(s.endedAt) : 'now'}`,
      s.durationSeconds !== null ? ` (${fmtSeconds(s.durationSeconds)})` : null,
    ),
    ...row('Status', statusBadge(s, 'session-status')),
    ...(s.closedBy ? row('Ended by', h('span', { class: 'closed-by', id: 'session-closed-by' }, closedByText(s))) : []),
    ...(s.lateEnd
      ? row('Ended late', h('span', { class: 'ended-late', id: 'session-ended-late' }, lateEndText(s)))
      : []),
    ...row(
      'Purpose',
      h('span', { class: 'purpose', id: 'session-purpose' }, s.request?.purpose ?? '—'),
      s.request?.ticket ? ` · ticket ${s.request.ticket}` : null,
    ),
    ...row(
      'Commands',
      `${s.commands.total}`,
      s.commands.alerted ? ` · ${s.commands.alerted} alerted` : null,
      s.commands.blocked ? ` · ${s.commands.blocked} blocked` : null,
    ),
    ...row('From', s.sourceIp ?? '—'),
    ...row('Session', h('code', {}, s.id)),
  );
}

registerPage({
  path: '/sessions/:id',
  title: 'Session',
  // Vendors open their own sessions here (the API shows them no one else's): the record, not the recording.
  roles: ['vendor', 'supervisor', 'auditor', 'admin'],
  async render({ main, params, query }) {
    const id = params.id ?? '';
    const path = `/api/sessions/${encodeURIComponent(id)}`;
    const head = h('section', { class: 'card', id: 'replay-head' }, h('p', { class: 'muted' }, 'Loading…'));
    main.append(head);
    let s: SessionPageView;
    try {
      s = await api<SessionPageView>('GET', path);
    } catch (err) {
      clear(
        head,
        h('h1', {}, 'Session not found'),
        h(
          'p',
          { class: 'error', id: 'replay-error' },
          err instanceof ApiError ? err.message : 'could not load the session',
        ),
      );
      return;
    }
    clear(
      head,
      h('h1', {}, 'Session of ', s.vendor.name, ' on ', s.target.name),
      context(s),
      s.live && s.can.watch
        ? h(
            'p',
            { class: 'note' },
            'This session is live: the replay shows what is recorded so far. ',
            h('a', { href: watchPath(s) }, 'Watch it live'),
          )
        : s.live
          ? h('p', { class: 'note' }, 'This session is live now.')
          : null,
    );
    if (!s.can.replay) {
      // A vendor's own session: what happened and how it ended. The recording holds every keystroke (no-echo
      // prompts too) and replay is the overseers' tool, so it is neither played nor fetched here.
      main.append(
        h(
          'section',
          { class: 'card', id: 'recording-note' },
          h('h2', {}, 'Recording'),
          h(
            'p',
            { class: 'muted' },
            s.recording
              ? 'This session was recorded. Recordings are replayed by the site’s supervisors and auditors only; ask them if you need to see it.'
              : 'This session has no recording.',
          ),
        ),
      );
      // What they typed is their record too: the captured commands with their verdicts, as text.
      const list = h('ol', { id: 'own-commands', class: 'markers' });
      main.append(h('section', { class: 'card' }, h('h2', {}, 'Commands'), list));
      await api<{ commands: CommandWithReason[] }>('GET', `${path}/commands`)
        .then(({ commands }) => {
          if (commands.length === 0) list.replaceWith(h('p', { class: 'muted' }, 'No command was captured.'));
          for (const c of commands)
            list.append(
              h(
                'li',
                {},
                h('span', { class: 'mono offset' }, secs(c.offsetSeconds)),
                ' ',
                h('code', { class: 'command' }, c.text),
                c.verdict !== 'allowed' ? h('span', { class: `state verdict-${c.verdict}` }, ` ${c.verdict}`) : null,
                c.verdict !== 'allowed' && c.reason ? h('span', { class: 'muted' }, ` ${c.reason}`) : null,
              ),
            );
        })
        .catch(() => list.replaceWith(h('p', { class: 'error' }, 'The commands could not be loaded.')));
      return;
    }
    const integritySlot = h('div', { id: 'integrity-slot' }, h('p', { class: 'muted' }, 'Checking integrity…'));
    const playerCard = h('section', { class: 'card', id: 'replay' }, integritySlot);
    main.append(playerCard);
    if (s.protocol === 'ssh') main.append(plcOperationsCard(s.id));
    void api<Integrity>('GET', `${path}/recording/integrity`)
      .then((i) => integritySlot.replaceChildren(integrityBadge(i)))
      .catch(() => integritySlot.replaceChildren(integrityBadge(undefined)));

    if (!s.recording) {
      playerCard.append(h('p', { class: 'muted' }, 'This session has no recording.'));
      return;
    }
    if (s.recording.kind !== 'cast') {
      // RDP: guacd's own recording, played with guacamole-common-js (web/rdp-replay.ts).
      const slot = h('div', { id: 'guac-replay' });
      playerCard.append(slot);
      await mountGuacReplay(slot, `${path}/recording`).catch(() => undefined);
      return;
    }
    // One fetch of the whole cast: one viewing in the audit trail, and the markers read from the same bytes the player plays.
    const res = await fetch(`${path}/recording`, { credentials: 'same-origin' });
    if (!res.ok) {
      playerCard.append(
        h('p', { class: 'error', id: 'replay-error' }, `The recording could not be loaded (HTTP ${res.status}).`),
      );
      return;
    }
    const text = await res.text();
    const cast = readCast(text);
    const verdicts = await api<{ commands: CommandWithReason[] }>('GET', `${path}/commands`)
      .then((r) => r.commands)
      .catch(() => [] as CommandWithReason[]);

    ensurePlayerCss();
    const screen = h('div', { id: 'player', class: 'player' });
    const time = h('span', { id: 'replay-time', class: 'mono', 'aria-live': 'off' }, secs(0));
    const toggleIcon = h('span', { class: 'icon', 'aria-hidden': 'true' }, '▶');
    const toggleText = h('span', {}, 'Play');
    const toggle = h('button', { type: 'button', id: 'replay-toggle' }, toggleIcon, ' ', toggleText);
    const speed = h(
      'select',
      { id: 'replay-speed', 'aria-label': 'Speed' },
      ...SPEEDS.map((v) => h('option', { value: String(v), selected: v === 1 }, `${v}×`)),
    );
    const back = h('button', { type: 'button', class: 'secondary', id: 'replay-back' }, '−5 s');
    const fwd = h('button', { type: 'button', class: 'secondary', id: 'replay-forward' }, '+5 s');
    const jump = h('ol', { id: 'markers', class: 'markers' });
    playerCard.append(
      screen,
      h(
        'p',
        { class: 'player-controls' },
        toggle,
        ' ',
        back,
        ' ',
        fwd,
        ' ',
        h('label', { class: 'inline', for: 'replay-speed' }, 'Speed'),
        speed,
        ' ',
        time,
      ),
      h('h2', {}, 'Commands'),
      cast.markers.length === 0 ? h('p', { class: 'muted' }, 'No command was captured in this session.') : jump,
    );

    let player: Player | undefined;
    let playing = false;
    const build = (at: number, rate: number, resume: boolean) => {
      player?.dispose();
      screen.replaceChildren();
      // Why the player cannot answer back or reach the clipboard: it only renders (no input channel, no
      // clipboard API), and its terminal emulator keeps OSC 52/50, title reports and DECRQSS to itself.
      const p = create({ data: text }, screen, {
        cols: cast.cols,
        rows: cast.rows,
        autoPlay: false,
        preload: true,
        speed: rate,
        fit: 'width',
        // The page's own controls are the only ones: the player's bar would be a second set with a second clock.
        controls: false,
        keystrokeOverlay: false,
        pauseOnMarkers: false,
      });
      p.addEventListener('play', () => setPlaying(true));
      p.addEventListener('playing', () => setPlaying(true));
      p.addEventListener('pause', () => setPlaying(false));
      p.addEventListener('ended', () => setPlaying(false));
      player = p;
      return p.seek(Math.max(0, at)).then(async () => {
        if (resume) await p.play();
      });
    };
    const tick = () => {
      const total = player?.getDuration();
      time.textContent = `${secs(player?.getCurrentTime() ?? 0)}${total === undefined ? '' : ` / ${secs(total)}`}`;
    };
    const setPlaying = (v: boolean) => {
      playing = v;
      toggleIcon.textContent = v ? '⏸' : '▶';
      toggleText.textContent = v ? 'Pause' : 'Play';
    };
    const seek = async (t: number) => {
      await player?.seek(Math.max(0, t));
      screen.dataset.at = String(Math.max(0, t));
      tick();
    };
    toggle.addEventListener('click', () => void (playing ? player?.pause() : player?.play()));
    back.addEventListener('click', () => void seek((player?.getCurrentTime() ?? 0) - 5));
    fwd.addEventListener('click', () => void seek((player?.getCurrentTime() ?? 0) + 5));
    speed.addEventListener('change', () => void build(player?.getCurrentTime() ?? 0, Number(speed.value), playing));

    // Verdicts by position: the n-th marker with a text is the n-th captured command with that text.
    const byText = new Map<string, CommandWithReason[]>();
    for (const c of verdicts) byText.set(c.text, [...(byText.get(c.text) ?? []), c]);
    cast.markers.forEach((m, i) => {
      const c = byText.get(m.label)?.shift();
      jump.append(
        h(
          'li',
          {},
          h(
            'button',
            {
              type: 'button',
              class: 'link marker',
              id: `marker-${i}`,
              'data-time': String(m.time),
              onclick: () => void seek(m.time),
            },
            h('span', { class: 'mono offset' }, secs(m.time)),
            ' ',
            h('code', { class: 'command' }, m.label),
          ),
          ' ',
          c && c.verdict !== 'allowed' ? h('span', { class: `state verdict-${c.verdict}` }, c.verdict) : null,
          c && c.verdict !== 'allowed' && c.reason ? h('span', { class: 'muted' }, ` ${c.reason}`) : null,
        ),
      );
    });

    // ?t= from the command search: snap onto the nearest marker (exact in the cast), else the time itself.
    const t = Number(query.get('t'));
    let start = Number.isFinite(t) && t > 0 ? t : 0;
    const near = cast.markers.reduce<Marker | undefined>(
      (best, m) =>
        Math.abs(m.time - start) <= SNAP_SECONDS && (!best || Math.abs(m.time - start) < Math.abs(best.time - start))
          ? m
          : best,
      undefined,
    );
    if (start > 0 && near) start = near.time;
    try {
      await build(start, 1, false);
    } catch (err) {
      player?.dispose();
      screen.replaceChildren(
        h(
          'p',
          { class: 'error', id: 'replay-error' },
          `The player could not read this recording: ${err instanceof Error ? err.message : String(err)}`,
        ),
      );
      return;
    }
    screen.dataset.at = String(start);
    tick();
    screen.dataset.ready = 'true';
    if (near && start > 0) document.getElementById(`marker-${cast.markers.indexOf(near)}`)?.classList.add('current');

    // Clock, and disposal once the page is left (the router just replaces main's children).
    const timer = setInterval(() => {
      if (!playerCard.isConnected) {
        clearInterval(timer);
        player?.dispose();
        return;
      }
      tick();
    }, 250);
  },
});
