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

/** Events that matter to every gateway process on the database, carried by PostgreSQL NOTIFY. */
const SHARED_EVENTS = new Set<keyof EventMap>(['mailbox.changed']);
const NOTIFY_CHANNEL = 'posteingang_events';

interface Notifier {
  notify(channel: string, payload: string): Promise<void>;
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>;
}

/**
 * Publishes a shared event to every process on the database (this one included, once its
 * bridge listens): a CLI run that changes a mailbox reaches the gateways' schedulers.
 */
export async function publish<K extends 'mailbox.changed'>(database: Notifier, event: K, payload: EventMap[K][0]): Promise<void> {
  await database.notify(NOTIFY_CHANNEL, JSON.stringify({ event, payload }));
}

/**
 * Re-emits shared events that arrive by NOTIFY on the local emitter.
 * @returns a function that stops listening
 */
export function bridgeEvents(database: Notifier, events: Events): Promise<() => Promise<void>> {
  return database.listen(NOTIFY_CHANNEL, (text) => {
    try {
      const { event, payload } = JSON.parse(text) as { event: keyof EventMap; payload: EventMap['mailbox.changed'][0] };
      if (SHARED_EVENTS.has(event)) events.emit(event, payload);
    } catch {
      // not ours
    }
  });
}
