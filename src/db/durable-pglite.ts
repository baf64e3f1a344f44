import { fsyncSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { NodeFS } from '@electric-sql/pglite/nodefs';

/** The parts of Emscripten's NODEFS this module touches (PGlite bundles Emscripten's runtime). */
interface NodeFsModule {
  NODEFS: { stream_ops: { fsync?: (stream: { nfd?: number }) => number } };
}

/**
 * PGlite's Node file system with a working `fsync`.
 *
 * PGlite runs PostgreSQL in WebAssembly on top of Emscripten's NODEFS, whose streams have no
 * `fsync` operation: PostgreSQL's `fsync()` calls succeed without flushing anything, and PGlite
 * also starts PostgreSQL with `-F` (fsync off). A commit then sits in the page cache only, and a
 * power cut can take away data the gateway has acknowledged (issue 13). This class gives NODEFS
 * streams an `fsync` that flushes the underlying file with fsync(2) — PostgreSQL's `fsync()` on a
 * WAL segment, a data file or a directory then reaches the disk.
 */
export class DurableNodeFS extends NodeFS {
  override async init(pg: PGlite, opts: Parameters<NodeFS['init']>[1]) {
    const result = await super.init(pg, opts);
    const preRun = result.emscriptenOpts.preRun;
    const install = (mod: unknown) => {
      (mod as NodeFsModule).NODEFS.stream_ops.fsync = (stream) => {
        if (stream.nfd !== undefined) fsyncSync(stream.nfd);
        return 0;
      };
    };
    result.emscriptenOpts.preRun = Array.isArray(preRun) ? [...preRun, install] : preRun ? [preRun, install] : [install];
    return result;
  }
}

/**
 * PostgreSQL start parameters for a durable embedded database: PGlite's defaults without `-F`
 * (so `fsync = on`), and `wal_sync_method = fsync`, because Emscripten's `fdatasync` (the
 * PostgreSQL default on Linux) is a no-op while `fsync` reaches DurableNodeFS. With
 * `synchronous_commit = on` (the default) a COMMIT returns only after its WAL is flushed.
 * See PostgreSQL 17 documentation §19.5.1 (fsync, wal_sync_method) and §28.1 (reliability).
 */
export function durableStartParams(): string[] {
  return [...PGlite.defaultStartParams.filter((p) => p !== '-F'), '-c', 'fsync=on', '-c', 'wal_sync_method=fsync'];
}
