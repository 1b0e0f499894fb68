// The internal watch channel's frames, holder to viewer's node: what a TerminalWatcher is told, one websocket
// message each. Output bytes are binary messages; everything else is one JSON text message.
import type { CommandAlert } from '../command-alerts.js';
import type { PlcLiveEvent } from '../conduit/conduit.js';
import { END_REASON_KEYS } from '../core/end-reasons.js';
import type { SessionEndReason } from '../core/model.js';

export type RelayFrame =
  | { t: 'screen'; data: string; cols: number; rows: number }
  | { t: 'resize'; cols: number; rows: number }
  | { t: 'plc'; event: PlcLiveEvent }
  | { t: 'alert'; alert: CommandAlert }
  | { t: 'ended'; reason: SessionEndReason };

const END_REASONS: ReadonlySet<string> = new Set(END_REASON_KEYS);

export const encodeFrame = (f: RelayFrame): string => JSON.stringify(f);

const isSize = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 100_000;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** One text message as a frame; undefined if it is not one (the caller ends the relay: the holder broke the protocol). */
export function decodeFrame(text: string): RelayFrame | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObject(v)) return undefined;
  switch (v.t) {
    case 'screen':
      return typeof v.data === 'string' && isSize(v.cols) && isSize(v.rows)
        ? { t: 'screen', data: v.data, cols: v.cols, rows: v.rows }
        : undefined;
    case 'resize':
      return isSize(v.cols) && isSize(v.rows) ? { t: 'resize', cols: v.cols, rows: v.rows } : undefined;
    case 'plc':
      return isObject(v.event) && isObject(v.event.operation) && typeof v.event.type === 'string'
        ? { t: 'plc', event: v.event as unknown as PlcLiveEvent }
        : undefined;
    case 'alert':
      return isObject(v.alert) &&
        typeof v.alert.text === 'string' &&
        (v.alert.verdict === 'alerted' || v.alert.verdict === 'blocked')
        ? { t: 'alert', alert: v.alert as unknown as CommandAlert }
        : undefined;
    case 'ended':
      return typeof v.reason === 'string' && END_REASONS.has(v.reason)
        ? { t: 'ended', reason: v.reason as SessionEndReason }
        : undefined;
    default:
      return undefined;
  }
}
