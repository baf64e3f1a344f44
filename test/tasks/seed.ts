// Fast fixtures for the task tests: tasks inserted directly (one blob, one message per task),
// so that a thousand of them take a moment on both drivers. Values are chosen by the caller.
import { createHash, randomBytes } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { Db } from '../../src/db/client.js';
import { blob, channelSetting, message, task, taskCandidate, taskEvent, type Channel, type TaskStatus } from '../../src/db/schema.js';

export interface TaskSeed {
  count: number;
  /** staff ids who are candidates of every task */
  candidates?: number[];
  status?: TaskStatus;
  assigneeId?: number | null;
  channel?: Channel;
  sender?: string;
  subject?: string;
  createdAt?: Date;
  completedAt?: Date | null;
}

/** Inserts `count` tasks (and their messages); @returns the task ids, ascending */
export async function insertTasks(db: Db, seed: TaskSeed): Promise<number[]> {
  const channel = seed.channel ?? 'general';
  const [setting] = await db.select().from(channelSetting).where(eq(channelSetting.channel, channel));
  const sha = createHash('sha256').update('seed').digest('hex');
  await db.insert(blob).values({ sha256: sha, size: 0 }).onConflictDoNothing();
  const ids: number[] = [];
  const batch = 500;
  for (let i = 0; i < seed.count; i += batch) {
    const n = Math.min(batch, seed.count - i);
    const messages = await db
      .insert(message)
      .values(
        Array.from({ length: n }, (_, k) => ({
          rawSha256: sha,
          size: 0,
          fingerprint: `seed-${randomBytes(12).toString('hex')}`,
          senderAddress: seed.sender ?? 'sender@agency.example',
          subject: seed.subject ?? `Seed ${i + k + 1}`,
          date: new Date(),
          dateFromHeader: false,
        })),
      )
      .returning({ id: message.id });
    const tasks = await db
      .insert(task)
      .values(
        messages.map((m) => ({
          messageId: m.id,
          channel,
          activityTypeId: setting!.activityTypeId,
          status: seed.status ?? 'open',
          assigneeId: seed.assigneeId ?? null,
          ...(seed.createdAt ? { createdAt: seed.createdAt } : {}),
          completedAt: seed.completedAt ?? null,
        })),
      )
      .returning({ id: task.id });
    const taskIds = tasks.map((t) => t.id);
    ids.push(...taskIds);
    const cands = taskIds.flatMap((taskId) => (seed.candidates ?? []).map((staffId) => ({ taskId, staffId })));
    for (let c = 0; c < cands.length; c += 5000) await db.insert(taskCandidate).values(cands.slice(c, c + 5000));
  }
  return ids.sort((a, b) => a - b);
}

/** Every event of the given action, as [taskId, actorId] pairs. */
export async function eventsOf(db: Db, action: string) {
  return db.select({ taskId: taskEvent.taskId, actorId: taskEvent.actorId, detail: taskEvent.detail, at: taskEvent.at }).from(taskEvent).where(eq(taskEvent.action, action));
}

/** Tasks with status and assignee, by id. */
export async function taskRows(db: Db) {
  const rows = await db.select({ id: task.id, status: task.status, assigneeId: task.assigneeId, completedAt: task.completedAt }).from(task);
  return new Map(rows.map((r) => [r.id, r]));
}
