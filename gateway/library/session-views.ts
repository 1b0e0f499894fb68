// The sessions library: what the API shows of recorded sessions and captured commands, filtered per viewer.
import type { TargetConfig } from '../config.js';
import { factsOf } from '../broker.js';
import { mayReplay, mayTerminate, sessionVisibleTo } from '../core/session-access.js';
import type { CommandRecord, Protocol, SessionEndReason, SessionRecord, User } from '../core/model.js';
import type { DbData } from '../store.js';

export interface PersonView {
  id: string;
  name: string;
  org: string;
  email: string;
}

export interface SessionView {
  id: string;
  protocol: Protocol;
  via: SessionRecord['via'];
  /** From the live registry: the truth for live sessions (a record without endedAt may be a crash left over). */
  live: boolean;
  vendor: PersonView;
  target: { id: string; name: string; zone: string | null; securityLevel: number | null };
  grantId: string;
  requestId: string;
  startedAt: string;
  endedAt: string | null;
  endReason: SessionEndReason | null;
  durationSeconds: number | null;
  sourceIp: string | null;
  recording: {
    kind: 'cast' | 'guac';
    /** Sealed with its SHA-256 when the session ended; null while live or if the gateway died first. */
    sha256: string | null;
    bytes: number | null;
    incomplete: boolean;
  } | null;
  commands: { total: number; alerted: number; blocked: number };
  /** What the viewer may do with it now: the pages show buttons from this. */
  can: { replay: boolean; terminate: boolean; watch: boolean };
}

export interface SessionDetail extends SessionView {
  request: { id: string; purpose: string; ticket: string | null; startsAt: string; endsAt: string } | null;
}

export interface CommandHit {
  id: string;
  sessionId: string;
  at: string;
  /** Seconds from the session's start: the replay opens here (`/sessions/:id?t=`). */
  offsetSeconds: number;
  text: string;
  verdict: CommandRecord['verdict'];
  rule: string | null;
  vendor: PersonView;
  target: { id: string; name: string };
  protocol: Protocol;
}

export interface SessionFilter {
  vendor?: string;
  org?: string;
  target?: string;
  zone?: string;
  protocol?: Protocol;
  from?: number;
  to?: number;
  endReason?: SessionEndReason;
  live?: boolean;
}

export interface LibraryContext {
  viewer: User;
  targets: ReadonlyMap<string, TargetConfig>;
  isLive(sessionId: string): boolean;
  now: number;
  /** Every captured command (the command log's records; not in db.json since schema v2). */
  commands: readonly CommandRecord[];
}

export interface Page<T> {
  total: number;
  offset: number;
  limit: number;
  items: T[];
}

const DEFAULT_LIMIT = 100;
const ms = (iso: string) => Date.parse(iso);
const same = (a: string | null | undefined, b: string) => (a ?? '').toLowerCase() === b.toLowerCase();

function person(users: ReadonlyMap<string, User>, id: string): PersonView {
  const u = users.get(id);
  return { id, name: u?.name ?? id, org: u?.org ?? '', email: u?.email ?? '' };
}

/** Everything a view needs from the store, built once per request (maps, not repeated scans). */
class Index {
  readonly users: ReadonlyMap<string, User>;
  private counts: Map<string, SessionView['commands']> | undefined;
  constructor(
    data: Readonly<DbData>,
    private readonly commands: readonly CommandRecord[],
  ) {
    this.users = new Map(data.users.map((u) => [u.id, u]));
  }
  commandCounts(id: string): SessionView['commands'] {
    if (!this.counts) {
      this.counts = new Map();
      for (const c of this.commands) {
        let n = this.counts.get(c.sessionId);
        if (!n) this.counts.set(c.sessionId, (n = { total: 0, alerted: 0, blocked: 0 }));
        n.total++;
        if (c.verdict === 'alerted') n.alerted++;
        if (c.verdict === 'blocked') n.blocked++;
      }
    }
    return this.counts.get(id) ?? { total: 0, alerted: 0, blocked: 0 };
  }
}

export const visible = (ctx: LibraryContext, s: SessionRecord): boolean =>
  sessionVisibleTo(factsOf(ctx.viewer), s, ctx.targets);

/** Does `s` pass the filter? `from`/`to` select sessions that overlap [from, to). */
function matches(s: SessionRecord, f: SessionFilter, ctx: LibraryContext, idx: Index): boolean {
  if (f.vendor !== undefined && s.userId !== f.vendor) return false;
  if (f.target !== undefined && s.targetId !== f.target) return false;
  if (f.protocol !== undefined && s.protocol !== f.protocol) return false;
  if (f.endReason !== undefined && s.endReason !== f.endReason) return false;
  if (f.org !== undefined && !same(idx.users.get(s.userId)?.org, f.org)) return false;
  if (f.zone !== undefined && !same(ctx.targets.get(s.targetId)?.zone, f.zone)) return false;
  if (f.to !== undefined && ms(s.startedAt) >= f.to) return false;
  if (f.from !== undefined && (s.endedAt ? ms(s.endedAt) : ctx.now) < f.from) return false;
  if (f.live !== undefined && ctx.isLive(s.id) !== f.live) return false;
  return true;
}

function view(s: SessionRecord, ctx: LibraryContext, idx: Index): SessionView {
  const t = ctx.targets.get(s.targetId);
  const live = ctx.isLive(s.id);
  const facts = factsOf(ctx.viewer);
  const rec = s.recording;
  return {
    id: s.id,
    protocol: s.protocol,
    via: s.via,
    live,
    vendor: person(idx.users, s.userId),
    target: {
      id: s.targetId,
      name: t?.name ?? s.targetId,
      zone: t?.zone ?? null,
      securityLevel: t?.securityLevel ?? null,
    },
    grantId: s.grantId,
    requestId: s.requestId,
    startedAt: s.startedAt,
    endedAt: s.endedAt ?? null,
    endReason: s.endReason ?? null,
    durationSeconds: s.endedAt ? Math.max(0, Math.round((ms(s.endedAt) - ms(s.startedAt)) / 1000)) : null,
    sourceIp: s.sourceIp ?? null,
    recording: rec
      ? {
          kind: rec.path.endsWith('.guac') ? 'guac' : 'cast',
          sha256: rec.sha256 ?? null,
          bytes: rec.bytes ?? null,
          incomplete: rec.incomplete === true,
        }
      : null,
    commands: idx.commandCounts(s.id),
    can: {
      replay: rec !== undefined && mayReplay(facts),
      terminate: live && mayTerminate(facts, t),
      // Watching a live session is for those who may replay it afterwards.
      watch: live && mayReplay(facts),
    },
  };
}

function paged<T>(all: T[], offset = 0, limit = DEFAULT_LIMIT): Page<T> {
  return { total: all.length, offset, limit, items: all.slice(offset, offset + limit) };
}

const newestFirst = (a: { startedAt?: string; at?: string }, b: { startedAt?: string; at?: string }) =>
  ms(b.startedAt ?? b.at ?? '') - ms(a.startedAt ?? a.at ?? '');

/** The sessions the viewer may see that pass the filter, newest first. */
export function listSessions(
  data: Readonly<DbData>,
  ctx: LibraryContext,
  f: SessionFilter,
  page: { offset?: number; limit?: number } = {},
): Page<SessionView> {
  const idx = new Index(data, ctx.commands);
  const hits = data.sessions.filter((s) => visible(ctx, s) && matches(s, f, ctx, idx)).sort(newestFirst);
  const p = paged(hits, page.offset, page.limit);
  return { ...p, items: p.items.map((s) => view(s, ctx, idx)) };
}

/** One session, or undefined if unknown or not visible to the viewer (the caller answers both alike). */
export function findSession(data: Readonly<DbData>, ctx: LibraryContext, id: string): SessionRecord | undefined {
  const s = data.sessions.find((x) => x.id === id);
  return s && visible(ctx, s) ? s : undefined;
}

export function sessionDetail(data: Readonly<DbData>, ctx: LibraryContext, s: SessionRecord): SessionDetail {
  const r = data.requests.find((x) => x.id === s.requestId);
  return {
    ...view(s, ctx, new Index(data, ctx.commands)),
    request: r
      ? { id: r.id, purpose: r.purpose, ticket: r.ticket ?? null, startsAt: r.startsAt, endsAt: r.endsAt }
      : null,
  };
}

function hit(c: CommandRecord, s: SessionRecord, ctx: LibraryContext, idx: Index): CommandHit {
  return {
    id: c.id,
    sessionId: c.sessionId,
    at: c.at,
    offsetSeconds: Math.max(0, Math.round(ms(c.at) - ms(s.startedAt)) / 1000),
    text: c.text,
    verdict: c.verdict,
    rule: c.rule ?? null,
    vendor: person(idx.users, s.userId),
    target: { id: s.targetId, name: ctx.targets.get(s.targetId)?.name ?? s.targetId },
    protocol: s.protocol,
  };
}

/** One session's captured commands, in the order they were typed. */
export function sessionCommands(data: Readonly<DbData>, ctx: LibraryContext, s: SessionRecord): CommandHit[] {
  const idx = new Index(data, ctx.commands);
  return ctx.commands
    .filter((c) => c.sessionId === s.id)
    .sort((a, b) => ms(a.at) - ms(b.at))
    .map((c) => hit(c, s, ctx, idx));
}

export interface CommandSearch extends SessionFilter {
  q?: string;
  verdict?: CommandRecord['verdict'];
  session?: string;
}

/**
 * Searches captured commands across every session the viewer may see: case-insensitive substring of
 * the text, session filters as for the list, `from`/`to` on the command's own time. Newest first.
 */
export function searchCommands(
  data: Readonly<DbData>,
  ctx: LibraryContext,
  f: CommandSearch,
  page: { offset?: number; limit?: number } = {},
): Page<CommandHit> {
  const idx = new Index(data, ctx.commands);
  const { from, to, ...sessionOnly } = f;
  const sessions = new Map<string, SessionRecord>();
  for (const s of data.sessions)
    if ((f.session === undefined || s.id === f.session) && visible(ctx, s) && matches(s, sessionOnly, ctx, idx))
      sessions.set(s.id, s);
  const q = f.q?.toLowerCase();
  const found = ctx.commands.filter((c) => {
    if (!sessions.has(c.sessionId)) return false;
    if (f.verdict !== undefined && c.verdict !== f.verdict) return false;
    const at = ms(c.at);
    if ((from !== undefined && at < from) || (to !== undefined && at >= to)) return false;
    return q === undefined || c.text.toLowerCase().includes(q);
  });
  found.sort(newestFirst);
  const p = paged(found, page.offset, page.limit);
  return { ...p, items: p.items.map((c) => hit(c, sessions.get(c.sessionId)!, ctx, idx)) };
}
