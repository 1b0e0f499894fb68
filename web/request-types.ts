// The JSON the request and target routes answer: the server's own view types, imported as types only
// (erased by esbuild), so the pages cannot drift from what the API sends.
export type { Protocol, RequestState } from '../gateway/core/model.js';
export type { WindowRule } from '../gateway/core/windows.js';
export type { PersonRef, RequestView } from '../gateway/broker/views.js';
export type { TargetView } from '../gateway/broker/targets.js';
