import { EventEmitter } from 'node:events';
import type { Channel } from './db/schema.js';

/** Domain events emitted after the storage commit; pages, metrics and webhooks subscribe. */
export interface EventMap {
  'message.stored': [{ messageId: number; duplicate: boolean; taskIds: number[]; channels: Channel[] }];
  /** A channel's mailbox or import settings changed: the scheduler re-plans it. */
  'mailbox.changed': [{ channel: Channel }];
}

export type Events = EventEmitter<EventMap>;

export function createEvents(): Events {
  return new EventEmitter<EventMap>();
}
