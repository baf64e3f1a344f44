import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  customType,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  serial,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';
import type { ParseIssue } from '../ingest/parse.js';

/** PostgreSQL `bytea`, mapped to a Node Buffer. */
export const bytea = customType<{ data: Buffer; driverData: Buffer | Uint8Array }>({
  dataType: () => 'bytea',
  fromDriver: (v) => (Buffer.isBuffer(v) ? v : Buffer.from(v)),
  toDriver: (v) => v,
});

/** The two inbound channels of the reference document: "Empfang Allgemein" and "Empfang per Scanner". */
export const CHANNELS = ['general', 'scanner'] as const;
export type Channel = (typeof CHANNELS)[number];

/** Task states. `unassigned`: no staff member is a candidate (or the message is unreadable). */
export const TASK_STATUSES = ['open', 'unassigned', 'completed'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

/** Content-addressed byte store: raw messages and attachment contents, kept in chunks. */
export const blob = pgTable('blob', {
  sha256: text('sha256').primaryKey(),
  size: bigint('size', { mode: 'number' }).notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

export const blobChunk = pgTable(
  'blob_chunk',
  {
    sha256: text('sha256')
      .notNull()
      .references(() => blob.sha256, { onDelete: 'cascade' }),
    seq: integer('seq').notNull(),
    data: bytea('data').notNull(),
  },
  (t) => [primaryKey({ columns: [t.sha256, t.seq] })],
);

/** One stored RFC 5322 message, however many times it was delivered. */
export const message = pgTable(
  'message',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    /** SHA-256 of the raw bytes as first received; key into `blob`. */
    rawSha256: text('raw_sha256')
      .notNull()
      .references(() => blob.sha256),
    size: bigint('size', { mode: 'number' }).notNull(),
    /** Redelivery key: the message without its trace header fields (see ingest/fingerprint.ts). */
    fingerprint: text('fingerprint').notNull(),
    messageIdHeader: text('message_id_header'),
    /** Address from `From`, lower-cased for matching; null when absent or unparsable. */
    senderAddress: text('sender_address'),
    senderName: text('sender_name'),
    subject: text('subject'),
    /** `Date` header; time of receipt when the header is missing or invalid. */
    date: timestamp('date', { withTimezone: true }).notNull(),
    dateFromHeader: boolean('date_from_header').notNull(),
    /** The decoded text and HTML bodies; both null when `bodyFromRaw` (then derived from the raw at read time). */
    text: text('text'),
    html: text('html'),
    /**
     * The bodies were not stored a second time: together longer than ingest keeps
     * (BODY_STORED_MAX_CHARS), they are parsed from the raw bytes when the message is shown
     * (services/messages.ts). The raw already holds them (issue 13: one stored copy).
     */
    bodyFromRaw: boolean('body_from_raw').notNull().default(false),
    /** Why the message could not be read; null when it parsed. */
    parseError: text('parse_error'),
    /** What the parse adapted or lost in the parsed copy (ingest/parse.ts ParseIssue: `{code, params}`); the raw bytes are unchanged. */
    parseIssues: jsonb('parse_issues').$type<ParseIssue[]>().notNull().default([]),
    /** RFC 3834 loop protection (ingest/auto-reply.ts): bounce | auto-submitted | list | bulk; null for mail from a person. */
    automated: text('automated'),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('message_fingerprint_idx').on(t.fingerprint),
    index('message_sender_idx').on(t.senderAddress),
    index('message_message_id_idx').on(t.messageIdHeader),
  ],
);

export const attachment = pgTable(
  'attachment',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    messageId: bigint('message_id', { mode: 'number' })
      .notNull()
      .references(() => message.id, { onDelete: 'cascade' }),
    position: integer('position').notNull(),
    /** Safe file name: no path part, no control characters. */
    filename: text('filename').notNull(),
    /** Declared type, or the sniffed one when the part said application/octet-stream. */
    contentType: text('content_type').notNull(),
    declaredContentType: text('declared_content_type').notNull(),
    size: bigint('size', { mode: 'number' }).notNull(),
    sha256: text('sha256')
      .notNull()
      .references(() => blob.sha256),
    contentId: text('content_id'),
    inline: boolean('inline').notNull().default(false),
  },
  (t) => [uniqueIndex('attachment_message_position_idx').on(t.messageId, t.position)],
);

/** Each delivery of a message (the first and every redelivery), with its typed source. */
export const receipt = pgTable(
  'receipt',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    messageId: bigint('message_id', { mode: 'number' })
      .notNull()
      .references(() => message.id, { onDelete: 'cascade' }),
    sourceKind: text('source_kind').notNull(),
    source: jsonb('source').notNull(),
    duplicate: boolean('duplicate').notNull(),
    rawSha256: text('raw_sha256').notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('receipt_message_idx').on(t.messageId)],
);

/** "Tätigkeit": the kind of task a message is imported as. */
export const activityType = pgTable(
  'activity_type',
  {
    id: serial('id').primaryKey(),
    name: text('name').notNull().unique(),
  },
  // names are unique regardless of case ("E-Mail-Eingang" and "e-mail-eingang" are one type)
  (t) => [uniqueIndex('activity_type_name_lower_idx').on(sql`lower(${t.name})`)],
);

/** Import settings per channel (reference: "Automatisches Einlesen"). */
export const channelSetting = pgTable('channel_setting', {
  channel: text('channel').$type<Channel>().primaryKey(),
  activityTypeId: integer('activity_type_id')
    .notNull()
    .references(() => activityType.id),
  autoImport: boolean('auto_import').notNull().default(true),
  pollIntervalMinutes: integer('poll_interval_minutes').notNull().default(15),
  autoComplete: boolean('auto_complete').notNull().default(false),
});

/** Addresses the SMTP receiver accepts in `RCPT TO`, each bound to a channel. Stored lower-cased. */
export const inboundAddress = pgTable('inbound_address', {
  address: text('address').primaryKey(),
  channel: text('channel').$type<Channel>().notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

export const STAFF_ROLES = ['admin', 'staff'] as const;
export type StaffRole = (typeof STAFF_ROLES)[number];

/** "Mitarbeiter*in": a person, with or without a login. */
export const staff = pgTable(
  'staff',
  {
    id: serial('id').primaryKey(),
    /** "Nachname, Vorname" */
    name: text('name').notNull(),
    email: text('email').notNull(),
    active: boolean('active').notNull().default(true),
    external: boolean('external').notNull().default(false),
    /** Unique case-insensitively: domain logins (`AGENCY\\sweiss`) are not case-sensitive. */
    login: text('login'),
    passwordHash: text('password_hash'),
    /** `admin` sees and manages everything; `staff` only their own tasks. */
    role: text('role').$type<StaffRole>().notNull().default('staff'),
    /** Permission "E-Mails automatisch einlesen" (reference): takes part in mail import. */
    mailImport: boolean('mail_import').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('staff_active_email_idx').on(sql`lower(${t.email})`).where(sql`${t.active}`),
    uniqueIndex('staff_login_idx').on(sql`lower(${t.login})`),
  ],
);

/** "E-Mail-Adressen verwalten": sender address (Von) → staff member (An). */
export const senderMapping = pgTable(
  'sender_mapping',
  {
    id: serial('id').primaryKey(),
    /** Lower-cased sender address. */
    fromAddress: text('from_address').notNull(),
    toStaffId: integer('to_staff_id')
      .notNull()
      .references(() => staff.id),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('sender_mapping_from_to_idx').on(t.fromAddress, t.toStaffId)],
);

/** "Vorgang": one message as work, per channel it arrived on. */
export const task = pgTable(
  'task',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    messageId: bigint('message_id', { mode: 'number' })
      .notNull()
      .references(() => message.id),
    channel: text('channel').$type<Channel>().notNull(),
    activityTypeId: integer('activity_type_id')
      .notNull()
      .references(() => activityType.id),
    status: text('status').$type<TaskStatus>().notNull(),
    /** The message could not be parsed; it is stored raw. */
    unreadable: boolean('unreadable').notNull().default(false),
    assigneeId: integer('assignee_id').references(() => staff.id),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    completedAt: timestamp('completed_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('task_message_channel_idx').on(t.messageId, t.channel),
    index('task_status_idx').on(t.status),
    // open-task list (services/task-list.ts): only the tasks still open, in order of arrival; the
    // predicate is repositories/task-list.ts OPEN_TASK_PREDICATE
    index('task_open_created_idx').on(t.createdAt, t.id).where(sql`${t.status} in ('open', 'unassigned')`),
    // tasks of one person (assignee filter, day view)
    index('task_assignee_idx').on(t.assigneeId, t.createdAt),
  ],
);

/** Staff members who may claim a task (from the sender mapping at ingest time). */
export const taskCandidate = pgTable(
  'task_candidate',
  {
    taskId: bigint('task_id', { mode: 'number' })
      .notNull()
      .references(() => task.id, { onDelete: 'cascade' }),
    staffId: integer('staff_id')
      .notNull()
      .references(() => staff.id),
  },
  (t) => [primaryKey({ columns: [t.taskId, t.staffId] }), index('task_candidate_staff_idx').on(t.staffId)],
);

/** Bearer tokens for the HTTP API; only the SHA-256 of the token is stored. */
export const apiToken = pgTable('api_token', {
  id: serial('id').primaryKey(),
  /** The staff member the token acts as (per-user tokens). */
  staffId: integer('staff_id').references(() => staff.id),
  name: text('name').notNull().unique(),
  tokenSha256: text('token_sha256').notNull().unique(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

/** SMTP AUTH accounts for scanners and other devices (RFC 4954); only an argon2id hash of the password is kept. */
export const deviceAccount = pgTable(
  'device_account',
  {
    id: serial('id').primaryKey(),
    /** The AUTH user name; unique case-insensitively. */
    name: text('name').notNull(),
    passwordHash: text('password_hash').notNull(),
    active: boolean('active').notNull().default(true),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    lastAuthAt: timestamp('last_auth_at', { withTimezone: true }),
  },
  (t) => [uniqueIndex('device_account_name_idx').on(sql`lower(${t.name})`)],
);

/** Mailbox protocols and transport security (domain.md item 1). */
export const MAILBOX_PROTOCOLS = ['imap', 'pop3'] as const;
export type MailboxProtocol = (typeof MAILBOX_PROTOCOLS)[number];
export const MAILBOX_SECURITY = ['tls', 'starttls', 'none'] as const;
export type MailboxSecurity = (typeof MAILBOX_SECURITY)[number];

/** The polled mailbox of a channel ("Empfang Allgemein", "Empfang per Scanner"). */
export const mailbox = pgTable('mailbox', {
  channel: text('channel').$type<Channel>().primaryKey(),
  protocol: text('protocol').$type<MailboxProtocol>().notNull(),
  host: text('host').notNull(),
  port: integer('port').notNull(),
  security: text('security').$type<MailboxSecurity>().notNull(),
  /** Passed to the server exactly as given (`AGENCY\scan`, `scan@agency.example`). */
  username: text('username').notNull(),
  /** AES-256-GCM ciphertext (see secrets.ts); never returned by any command or API. */
  passwordEncrypted: text('password_encrypted').notNull(),
  /** IMAP folder to read. */
  folder: text('folder').notNull().default('INBOX'),
  /** IMAP: seen | move:<folder> | delete | keep; POP3: delete | keep. */
  afterImport: text('after_import').notNull(),
  /** PEM file of an intranet CA that signed the server's certificate. */
  caFile: text('ca_file'),
  /** Admit TLS 1.0/1.1 servers. */
  tlsLegacy: boolean('tls_legacy').notNull().default(false),
  /** Import only mail received after this moment. */
  importSince: timestamp('import_since', { withTimezone: true }),
  enabled: boolean('enabled').notNull().default(true),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/** IMAP checkpoint per account and folder: RFC 3501 §2.3.1.1 UIDVALIDITY and the highest imported UID. */
export const imapCheckpoint = pgTable(
  'imap_checkpoint',
  {
    account: text('account').notNull(),
    folder: text('folder').notNull(),
    uidValidity: text('uid_validity').notNull(),
    lastUid: bigint('last_uid', { mode: 'number' }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.account, t.folder] })],
);

/** POP3 UIDLs (RFC 1939 §7) already imported, per account. */
export const pop3Seen = pgTable(
  'pop3_seen',
  {
    account: text('account').notNull(),
    uidl: text('uidl').notNull(),
    importedAt: timestamp('imported_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.account, t.uidl] })],
);

/** A message that could not be imported: left on the server, retried on later polls. */
export const mailboxFailure = pgTable(
  'mailbox_failure',
  {
    account: text('account').notNull(),
    /** IMAP `<uidvalidity>:<uid>`, POP3 the UIDL */
    itemKey: text('item_key').notNull(),
    reason: text('reason').notNull(),
    attempts: integer('attempts').notNull().default(1),
    /** permanent: too large, not retried */
    permanent: boolean('permanent').notNull().default(false),
    lastAttemptAt: timestamp('last_attempt_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.account, t.itemKey] })],
);

/** Poll health per channel, shown in the admin and by `mailbox show`. */
export const mailboxHealth = pgTable('mailbox_health', {
  channel: text('channel').$type<Channel>().primaryKey(),
  lastPollAt: timestamp('last_poll_at', { withTimezone: true }),
  lastSuccessAt: timestamp('last_success_at', { withTimezone: true }),
  lastError: text('last_error'),
  lastErrorAt: timestamp('last_error_at', { withTimezone: true }),
  consecutiveFailures: integer('consecutive_failures').notNull().default(0),
  importedTotal: bigint('imported_total', { mode: 'number' }).notNull().default(0),
  /** Lease: the instance polling this mailbox now, so that replicas never poll it in parallel. */
  leaseHolder: text('lease_holder'),
  leaseExpiresAt: timestamp('lease_expires_at', { withTimezone: true }),
});

/** History of a task: who did what when ("created", "claimed", "completed", "reopened", "forwarded", "assigned"). */
export const taskEvent = pgTable(
  'task_event',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    taskId: bigint('task_id', { mode: 'number' })
      .notNull()
      .references(() => task.id, { onDelete: 'cascade' }),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
    /** null: the gateway itself */
    actorId: integer('actor_id').references(() => staff.id),
    action: text('action').notNull(),
    detail: jsonb('detail'),
  },
  (t) => [index('task_event_task_idx').on(t.taskId)],
);

/** A browser session of the admin (issue 6); the cookie carries a random token, only its SHA-256 is stored. */
export const adminSession = pgTable(
  'admin_session',
  {
    tokenSha256: text('token_sha256').primaryKey(),
    staffId: integer('staff_id')
      .notNull()
      .references(() => staff.id, { onDelete: 'cascade' }),
    /** Synchroniser token for state-changing requests (OWASP CSRF cheat sheet), random per session. */
    csrfToken: text('csrf_token').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    lastSeenAt: timestamp('last_seen_at', { withTimezone: true }).notNull().defaultNow(),
    /** Idle expiry, moved forward on use; never past `createdAt` + the absolute lifetime. */
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  },
  (t) => [index('admin_session_staff_idx').on(t.staffId), index('admin_session_expires_idx').on(t.expiresAt)],
);

/** SMTP security of the sending account: implicit TLS (465), STARTTLS (587) or none (25). */
export const SMTP_SECURITY = ['tls', 'starttls', 'none'] as const;
export type SmtpSecurity = (typeof SMTP_SECURITY)[number];
/** SMTP AUTH mechanism of the sending account (RFC 4954, RFC 4616 PLAIN; LOGIN). */
export const SMTP_AUTH_METHODS = ['none', 'plain', 'login'] as const;
export type SmtpAuthMethod = (typeof SMTP_AUTH_METHODS)[number];

/** "Versand": the one central SMTP account all mail is sent through (one row, id 1). */
export const smtpAccount = pgTable('smtp_account', {
  id: integer('id').primaryKey().default(1),
  host: text('host').notNull(),
  port: integer('port').notNull(),
  security: text('security').$type<SmtpSecurity>().notNull(),
  auth: text('auth').$type<SmtpAuthMethod>().notNull(),
  username: text('username'),
  /** AES-256-GCM ciphertext (see secrets.ts, purpose `smtp:account`); never returned by any command or API. */
  passwordEncrypted: text('password_encrypted'),
  /** Address in `From` and the envelope `MAIL FROM`. */
  fromAddress: text('from_address').notNull(),
  fromName: text('from_name'),
  /** PEM file of an intranet CA that signed the server's certificate. */
  caFile: text('ca_file'),
  /** Admit TLS 1.0/1.1 servers. */
  tlsLegacy: boolean('tls_legacy').notNull().default(false),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/** Outbox states: queued → sending → sent | failed (a failed one may be queued again by retry). */
export const OUTBOX_STATES = ['queued', 'sending', 'sent', 'failed'] as const;
export type OutboxState = (typeof OUTBOX_STATES)[number];

/** A message to send: built once at enqueue (raw bytes in `blob`, Message-ID fixed), sent by the outbox worker. */
export const outboxMessage = pgTable(
  'outbox_message',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    state: text('state').$type<OutboxState>().notNull().default('queued'),
    /** RFC 5322 Message-ID generated at enqueue, with angle brackets; the same on every attempt. */
    messageIdHeader: text('message_id_header').notNull(),
    envelopeFrom: text('envelope_from').notNull(),
    /** RCPT TO addresses (to, cc and bcc). */
    envelopeTo: jsonb('envelope_to').$type<string[]>().notNull(),
    toAddresses: text('to_addresses').notNull(),
    subject: text('subject').notNull(),
    /** The RFC 5322 message as built at enqueue; key into `blob`. */
    rawSha256: text('raw_sha256')
      .notNull()
      .references(() => blob.sha256),
    size: bigint('size', { mode: 'number' }).notNull(),
    /** Delivery attempts started. */
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true }).notNull().defaultNow(),
    /** Lease while `sending`: the instance sending it, until when. */
    leaseHolder: text('lease_holder'),
    leaseExpiresAt: timestamp('lease_expires_at', { withTimezone: true }),
    /** Times a crashed `sending` attempt was taken over after its lease ran out. */
    recoveries: integer('recoveries').notNull().default(0),
    /** The server's last reply (acceptance with its queue id, or the refusal), or our description of a connection failure. */
    lastReply: text('last_reply'),
    lastAttemptAt: timestamp('last_attempt_at', { withTimezone: true }),
    sentAt: timestamp('sent_at', { withTimezone: true }),
    /** The message this one answers (reply to a task's message). */
    replyToMessageId: bigint('reply_to_message_id', { mode: 'number' }).references(() => message.id),
    taskId: bigint('task_id', { mode: 'number' }).references(() => task.id),
    /** Who queued it; null for the local operator or the gateway itself. */
    createdBy: integer('created_by').references(() => staff.id),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('outbox_message_id_header_idx').on(t.messageIdHeader),
    index('outbox_due_idx').on(t.nextAttemptAt, t.id).where(sql`${t.state} = 'queued'`),
    index('outbox_sending_idx').on(t.leaseExpiresAt).where(sql`${t.state} = 'sending'`),
    // the per-person send rate (issue 14): messages of one person in the last minute
    index('outbox_created_by_idx').on(t.createdBy, t.createdAt).where(sql`${t.createdBy} is not null`),
  ],
);

/**
 * The authentication throttle's state (issue 14), shared by every gateway on the database: per key
 * (the SHA-256 of realm, kind and value — login name, client address or both, never stored in
 * clear) the attempts counted within the window and when the next one is allowed. An attempt is
 * counted when it starts (before the password is checked) and forgiven on success.
 */
export const authThrottle = pgTable(
  'auth_throttle',
  {
    keySha256: text('key_sha256').primaryKey(),
    /** Attempts (failed or still being checked) since the window restarted. */
    failures: integer('failures').notNull(),
    /** Attempts refused unchecked (too early) since the window restarted; for the aggregated log line. */
    refused: integer('refused').notNull().default(0),
    lastAt: timestamp('last_at', { withTimezone: true }).notNull(),
    nextAllowedAt: timestamp('next_allowed_at', { withTimezone: true }).notNull(),
  },
  (t) => [index('auth_throttle_last_at_idx').on(t.lastAt)],
);

/**
 * Where a login has succeeded (issue 14): the SHA-256 of realm, login name and client address. A
 * person at such an address is throttled only by that address's own failures at their login, so
 * that guesses from elsewhere, or colleagues' typos behind the same address, never lock them out.
 */
export const authKnownClient = pgTable('auth_known_client', {
  keySha256: text('key_sha256').primaryKey(),
  lastSuccessAt: timestamp('last_success_at', { withTimezone: true }).notNull(),
});

/** Limits on what a staff member may send (issue 14), set by admins; one row, id 1. */
export const sendLimit = pgTable('send_limit', {
  id: integer('id').primaryKey().default(1),
  /** Recipients (To, Cc and Bcc together) per message. */
  maxRecipients: integer('max_recipients').notNull().default(50),
  /** Messages one person may queue per minute. */
  maxPerMinute: integer('max_per_minute').notNull().default(10),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});
