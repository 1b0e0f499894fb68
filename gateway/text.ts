// Text that people and peers wrote (reasons, display names, IdP claims), made safe for one line of a terminal,
// a chat message or a log.

/**
 * Control characters (C0, DEL, C1) and Unicode line separators become one space; trimmed; cut at `max`. Why:
 * an escape sequence would act on a vendor's terminal, and a line break would let the writer add a line of their
 * own (a fake refusal or a forged "approved by …").
 */
export const oneLine = (s: string, max = 400): string => {
  const flat = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
};
