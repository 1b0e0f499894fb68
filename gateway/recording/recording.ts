// The front of recording/: what other folders use of it. Its own files import each other directly.

export { CastWriter } from './asciicast.js';
export { CommandCapture } from './command-capture.js';
export { resolveRecording, SESSION_ID_PATTERN, sessionsRoot } from './files.js';
export { recoverInterruptedSessions } from './recovery.js';
export { leaveSealNote } from './seal-note.js';
export { hashFile } from './file-hash.js';
