import type { AppContext } from '../../src/context.js';

/**
 * A context whose first commit of a message (ingest, or a batch through ingestBatch) is followed
 * by "committed" on stdout and SIGKILL: a crash right after the commit, before any after-import
 * action (\Seen, DELE) and before the checkpoint. For the crash children.
 */
export function dyingAfterFirstCommit(ctx: AppContext): AppContext {
  const die = () => {
    process.stdout.write('committed\n');
    process.kill(process.pid, 'SIGKILL');
    return new Promise<never>(() => {});
  };
  return {
    ...ctx,
    async ingest(...args) {
      await ctx.ingest(...args);
      return die();
    },
    async ingestBatch(...args) {
      await ctx.ingestBatch(...args);
      return die();
    },
  };
}
