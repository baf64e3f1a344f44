// Entry of the gateway's worker threads (db/pglite-remote.ts): registers
// tsx's loader in this thread, as bin/posteingang.js does in the main one, then runs the
// TypeScript module named in workerData.module (a file URL).
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.module);
