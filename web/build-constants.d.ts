// Values scripts/build-web.js writes into the bundle at build time (esbuild `define`).

/** URL of asciinema-player's stylesheet under its content-hashed name (served as immutable). */
declare const GATEHOUSE_PLAYER_CSS: string;
