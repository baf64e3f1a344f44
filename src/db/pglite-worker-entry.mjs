// Entry of the embedded database's worker thread (pglite-remote.ts): registers tsx's loader in
// this thread, as bin/posteingang.js does in the main one, then runs the TypeScript worker.
import { register } from 'tsx/esm/api';

register();
await import('./pglite-worker.ts');
