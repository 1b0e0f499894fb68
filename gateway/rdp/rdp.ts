// The front of rdp/: what other folders use of it. Its own files import each other directly.

export { printable, probeRdpCertificate, RdpProbeError } from './cert-probe.js';
export { heldDesktopView, type HeldViewOptions } from './held-view.js';
export { rdpRoute, type RdpRouteOptions } from './rdp-route.js';
export { rdpTokenRouter } from './token-routes.js';
export {
  MAX_TOKEN_CHARS,
  type Minted,
  type RdpTicket,
  type RdpTokenStore,
  RdpTokens,
  type Redeemed,
  type TokenHolder,
  tokenBounds,
  tokenRefusal,
} from './tokens.js';
export type { ClientSize } from './params.js';
