import { listTasks as list, type TaskFilter } from '../db/repositories/tasks.js';
import type { Db } from '../db/client.js';

/** Tasks with status, channel, activity type, candidates and assignee; newest first. */
export function listTasks(db: Db, filter: Partial<TaskFilter> = {}) {
  return list(db, { limit: 100, offset: 0, ...filter });
}
