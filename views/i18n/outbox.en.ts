import type { outboxDe } from './outbox.de.js';

/** English messages of the outbox page; typed by the German ones. */
export const outboxEn: typeof outboxDe = {
  title: 'Outbox',
  intro: 'Messages going out through the central sending account: queued, sending, failed, sent.',
  filterLabel: 'Filter by state',
  all: 'All',
  states: { queued: 'queued', sending: 'sending', sent: 'sent', failed: 'failed' },
  none: 'No messages.',
  id: 'No.',
  state: 'State',
  to: 'To',
  subject: 'Subject',
  attempts: 'Attempts',
  nextAttempt: 'Next attempt',
  lastAttempt: 'Last attempt',
  lastReply: "Server's last reply",
  sentAt: 'Sent',
  actions: 'Actions',
  retry: 'Retry',
  retryLabel: (id) => `Retry message ${id}`,
  retried: (id) => `Message ${id} is being tried again.`,
};
