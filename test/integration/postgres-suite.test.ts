// The behaviour suite again on the PostgreSQL engine: the same test files, their fixtures opening storage
// through helpers/engines.ts (each test on a database of its own, dropped after). Not copies: a test
// added to one of these files runs on both engines.
import { useEngine } from '../helpers/engines.js';

useEngine('postgres');
await import('./requests.test.js');
await import('./requests-matrix.test.js');
await import('./requests-events.test.js');
await import('./sessions-api.test.js');
