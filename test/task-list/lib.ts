// Fixtures for the open-task list tests: tasks inserted directly with every value chosen by the
// test (status, channel, activity type, sender, subject, assignee, candidates, creation time).
import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'drizzle-orm';
import type { AppContext } from '../../src/context.js';
import type { Db } from '../../src/db/client.js';
import { activityType, blob, message, task, taskCandidate, type Channel, type TaskStatus } from '../../src/db/schema.js';
import { runCommand } from '../../src/cli/commands.js';

export interface SeedTask {
  status: TaskStatus;
  channel: Channel;
  /** activity type name (must exist) */
  type: string;
  sender: string | null;
  senderName?: string | null;
  subject: string | null;
  assigneeId?: number | null;
  candidates?: readonly number[];
  createdAt: Date;
  unreadable?: boolean;
}

/** Inserts one message and its task; @returns the task id */
export async function insertTask(db: Db, t: SeedTask): Promise<number> {
  const sha = createHash('sha256').update('task-list-seed').digest('hex');
  await db.insert(blob).values({ sha256: sha, size: 0 }).onConflictDoNothing();
  const [type] = await db.select({ id: activityType.id }).from(activityType).where(sql`${activityType.name} = ${t.type}`);
  if (!type) throw new Error(`seed: no activity type ${t.type}`);
  const [m] = await db
    .insert(message)
    .values({
      rawSha256: sha,
      size: 0,
      fingerprint: `tl-${randomBytes(12).toString('hex')}`,
      senderAddress: t.sender,
      senderName: t.senderName ?? null,
      subject: t.subject,
      date: t.createdAt,
      dateFromHeader: true,
      parseError: t.unreadable ? 'unreadable' : null,
    })
    .returning({ id: message.id });
  const [row] = await db
    .insert(task)
    .values({
      messageId: m!.id,
      channel: t.channel,
      activityTypeId: type.id,
      status: t.status,
      unreadable: Boolean(t.unreadable),
      assigneeId: t.assigneeId ?? null,
      createdAt: t.createdAt,
      completedAt: t.status === 'completed' ? t.createdAt : null,
    })
    .returning({ id: task.id });
  if (t.candidates?.length) await db.insert(taskCandidate).values(t.candidates.map((staffId) => ({ taskId: row!.id, staffId })));
  return row!.id;
}

/** `days` days (and `hours` hours) before now. */
export const ago = (days: number, hours = 0) => new Date(Date.now() - days * 86_400_000 - hours * 3_600_000);

/** The local calendar date (YYYY-MM-DD) of an instant, written out by hand. */
export function localDate(d: Date): string {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/** Runs a CLI command in-process against `ctx` (the same code path as the admin socket). */
export async function cli(ctx: AppContext, argv: string[]): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  const out: Buffer[] = [];
  let err = '';
  const code = await runCommand(
    argv,
    {
      out: (c) => out.push(typeof c === 'string' ? Buffer.from(c) : c),
      err: (t) => {
        err += t;
      },
      cwd: process.cwd(),
      readStdin: async () => '',
    },
    async () => ctx,
  );
  return { code, stdout: Buffer.concat(out), stderr: err };
}
