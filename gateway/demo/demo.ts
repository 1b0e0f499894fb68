// The front of demo/: what other folders use of it. Its own files import each other directly.

export { DEMO_TARGET_ID, startDemo } from './run.js';
