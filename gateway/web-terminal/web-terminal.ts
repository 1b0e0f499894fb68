// The front of web-terminal/: what other folders use of it. Its own files import each other directly.

export { monitorRoute } from './monitor-route.js';
export { terminalRoute } from './terminal-route.js';
