/**
 * A poller that dies: opens the gateway's database the way the gateway does (openContext), polls
 * one IMAP mailbox, and kills itself with SIGKILL right after the first ingest (a batch) committed —
 * before the after-import action and before the checkpoint. Run by imap.test.ts as a child process.
 * argv[2]: JSON { dataDir, databaseUrl?, settings } (settings.importSince as ISO text or null)
 */
import { openContext } from '../../src/gateway.js';
import { imapAdapter } from '../../src/inbound/imap/adapter.js';
import type { MailboxSettings } from '../../src/inbound/mailbox/types.js';
import { createLogger } from '../../src/log.js';
import { testConfig } from '../helpers/env.js';
import { dyingAfterFirstCommit } from './dying.js';

const input = JSON.parse(process.argv[2]!) as { dataDir: string; databaseUrl?: string; settings: MailboxSettings & { importSince: string | null } };
const log = createLogger('silent');
const { ctx } = await openContext(testConfig(input.dataDir, input.databaseUrl ? { DATABASE_URL: input.databaseUrl } : {}), log, { lock: false });
const settings: MailboxSettings = { ...input.settings, importSince: input.settings.importSince ? new Date(input.settings.importSince) : null };
const dying = dyingAfterFirstCommit(ctx);
await imapAdapter.poll(settings, { ctx: dying, log, maxBytes: 10 * 1024 * 1024 });
process.stdout.write('poll finished without dying\n');
process.exit(3);
