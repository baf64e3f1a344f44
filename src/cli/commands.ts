import path from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import type { AppContext } from '../context.js';
import { describeError, sqlstateOf } from '../db/errors.js';
import { CHANNELS, TASK_STATUSES, type Channel, type TaskStatus } from '../db/schema.js';
import type { IngestResult } from '../ingest/ingest.js';
import { rawFromFile, type RawMessage } from '../ingest/raw.js';
import { addInboundAddress, listInboundAddresses, removeInboundAddress } from '../services/addresses.js';
import { MailboxError } from '../inbound/mailbox/types.js';
import { LeaseHeldError, setMailbox, showMailbox } from '../services/mailboxes.js';
import { addDevice, listDevices, setDeviceActive, setDevicePassword } from '../services/devices.js';
import { ForbiddenError, NotFoundError, uniqueViolation, ValidationError } from '../services/errors.js';
import * as messages from '../services/messages.js';
import { listChannelSettings, setImportSettings } from '../services/settings.js';
import { addMapping, addStaff, listMappings, listStaff, setStaffPassword } from '../services/staff.js';
import { listTasks } from '../services/tasks.js';
import { createToken, listTokens, revokeToken } from '../services/tokens.js';
import { parseChannel } from '../services/validate.js';
import { table, taskFlags } from './table.js';
import { registerAdminCommands } from './admin-commands.js';
import { registerTaskListCommands } from './task-list-commands.js';
import { registerSmtpCommands } from './smtp-commands.js';
import { registerTaskCommands, waitingAfterMapping } from './task-commands.js';

/** Where a command writes: the terminal, or a buffer sent back over the local admin socket. */
export interface CliIo {
  out(chunk: string | Buffer): void;
  err(text: string): void;
  /** Directory relative file arguments are resolved against. */
  cwd: string;
  /** Standard input as text (for `--password-stdin`). */
  readStdin(): Promise<string>;
}

/** The first line of standard input, for a password given with `--password-stdin`. */
async function passwordFromStdin(io: CliIo): Promise<string> {
  const password = (await io.readStdin()).split(/\r?\n/)[0] ?? '';
  if (!password) throw new ValidationError('password', 'expected the password on standard input (--password-stdin)');
  return password;
}

/** The connection test found a failing step (already printed). */
class MailboxTestFailed extends Error {}
/** A failure that was already printed; only the exit code is left to give. */
class AlreadyReported extends Error {}

/** A positive whole number from an option or argument. @throws ValidationError naming it */
function positiveInt(value: string, name: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) throw new ValidationError(name, `"${value}" is not a positive whole number`);
  return n;
}

/** Tells on stderr that a listing may have more rows than shown. */
function moreHint(io: CliIo, shown: number, limit: number): void {
  if (shown === limit) io.err(`(showing the first ${limit}; more may exist: use --limit)\n`);
}

/** What `ingest` gives for one file: the stored message, or why it was not stored. */
export type FileIngestResult =
  | ({ file: string; ok: true } & IngestResult)
  | { file: string; ok: false; error: { code: IngestFailureCode; params: Record<string, string>; message: string } };

/**
 * `file.unreadable`: the file could not be opened or read (params.errno: the system's code, e.g.
 * `ENOENT`, `EISDIR`, `EACCES`); `ingest.failed`: the pipeline threw, nothing of it was stored
 * (params.sqlstate: the database's SQLSTATE when the database refused a statement; params.errno
 * for a system error such as a refused connection).
 */
export type IngestFailureCode = 'file.unreadable' | 'ingest.failed';

/** The `code` of a Node system error (fs, net), e.g. `ENOENT`; undefined for anything else. */
function errnoOf(err: unknown): string | undefined {
  const e = err as { code?: unknown; syscall?: unknown; errno?: unknown } | null | undefined;
  return e && typeof e.code === 'string' && (typeof e.syscall === 'string' || typeof e.errno === 'number') ? e.code : undefined;
}

/**
 * Reads and ingests one file; never throws for a failure of this file (each message is stored in
 * its own transaction, so a failure leaves nothing behind and the next file starts clean).
 * A read error of the file, whether while hashing it or while ingest reads it again (it vanished
 * or became unreadable in between), is `file.unreadable`; any other error of ingest is
 * `ingest.failed`. Error messages never carry the message's content or a statement's
 * parameters (src/db/errors.ts).
 * @param shown the file as the user gave it (reported); @param file its absolute path
 */
async function ingestFile(ctx: AppContext, shown: string, file: string, channel: Channel): Promise<FileIngestResult> {
  const unreadable = (err: unknown): FileIngestResult => {
    const errno = errnoOf(err);
    return {
      file: shown,
      ok: false,
      error: { code: 'file.unreadable', params: errno ? { errno } : {}, message: `${shown} cannot be read: ${errno ?? describeError(err)}` },
    };
  };
  let raw: RawMessage;
  try {
    raw = await rawFromFile(file);
  } catch (err) {
    return unreadable(err);
  }
  // ingest opens the file again (parse, blob); an error of those streams is the file's, not the database's
  let readError: unknown;
  const watched: RawMessage = {
    ...raw,
    open: () => raw.open().once('error', (err) => void (readError ??= err)),
  };
  try {
    const r = await ctx.ingest(watched, { kind: 'file', channels: [channel], path: file });
    return { file: shown, ok: true, ...r };
  } catch (err) {
    if (readError !== undefined) return unreadable(readError);
    const sqlstate = sqlstateOf(err);
    const errno = sqlstate ? undefined : errnoOf(err);
    return {
      file: shown,
      ok: false,
      error: {
        code: 'ingest.failed',
        params: sqlstate ? { sqlstate } : errno ? { errno } : {},
        message: `${shown} was not stored: ${describeError(err)}`,
      },
    };
  } finally {
    await raw.discard();
  }
}

/** One stored file as a line: `a.eml: stored as message 12; task 7 open` (UNREADABLE: stored raw, mailparser could not read it). */
function storedLine(r: Extract<FileIngestResult, { ok: true }>): string {
  const tasks = r.tasks.map((t) => `task ${t.id} ${t.status}`).join(', ');
  return `${r.file}: ${r.duplicate ? 'already stored as' : 'stored as'} message ${r.messageId}${r.parseError ? ' UNREADABLE' : ''}; ${tasks}`;
}

/** The closing line of `ingest`, e.g. `3 files: 2 stored (1 already stored), 1 failed`. */
function ingestSummary(results: readonly FileIngestResult[]): string {
  const stored = results.filter((r) => r.ok);
  const duplicates = stored.filter((r) => r.ok && r.duplicate).length;
  const n = results.length;
  return `${n} file${n === 1 ? '' : 's'}: ${stored.length} stored${duplicates ? ` (${duplicates} already stored)` : ''}, ${n - stored.length} failed`;
}

/** Commands that cannot run inside the gateway process (they start or migrate it). */
export const LOCAL_ONLY = new Set(['serve', 'migrate']);

const json = (io: CliIo, value: unknown) => io.out(`${JSON.stringify(value, null, 2)}\n`);
const channelOption = () =>
  new Option('--channel <channel>', 'inbound channel').choices(CHANNELS as unknown as string[]).makeOptionMandatory();

/**
 * Runs one CLI command (everything but `serve` and `migrate`) against a context.
 * Used by the terminal CLI and by the running gateway's local admin socket, so both behave alike.
 * @param argv arguments after the program name, e.g. `['tasks', 'list', '--json']`
 * @param getContext opens the database lazily (not needed for `--help`)
 * @returns the exit code: 0 done, 1 refused or failed (reason on stderr), 2 usage error
 */
export async function runCommand(argv: string[], io: CliIo, getContext: () => Promise<AppContext>): Promise<number> {
  const program = new Command('posteingang')
    .description('Posteingang mail gateway: receive scans and mail, route them to staff as tasks')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .showHelpAfterError();

  program.command('serve').description('run the gateway (SMTP receiver, HTTP); configured by environment variables');
  program
    .command('migrate')
    .description('apply database migrations and exit')
    .action(async () => {
      await getContext(); // opening the database applies the migrations and the seed
      io.out('database migrated\n');
    });

  const address = program.command('address').description('inbound addresses accepted by the SMTP receiver');
  address
    .command('add <address>')
    .description('accept mail for <address> on a channel')
    .addOption(channelOption())
    .option('--json', 'machine-readable output')
    .action(async (addr: string, o: { channel: string; json?: boolean }) => {
      const r = await addInboundAddress((await getContext()).db, addr, o.channel);
      o.json ? json(io, r) : io.out(`${r.address} → ${r.channel}\n`);
    });
  address
    .command('list')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const rows = await listInboundAddresses((await getContext()).db);
      o.json ? json(io, rows) : io.out(table(rows, ['address', 'channel']));
    });
  address.command('remove <address>').action(async (addr: string) => {
    await removeInboundAddress((await getContext()).db, addr);
    io.out(`removed ${addr}\n`);
  });

  const staffCmd = program.command('staff').description('staff members ("Mitarbeiter*innen")');
  staffCmd
    .command('add')
    .requiredOption('--name <name>', '"Nachname, Vorname"')
    .requiredOption('--email <address>', 'address that identifies the person as a sender')
    .option('--login <name>', 'login name (staff who receive tasks need one)')
    .option('--external', 'external person: no login, no licence; recorded so the address can be mapped')
    .option('--inactive', 'not currently working here ("Aktuell" off)')
    .option('--admin', 'role admin: manages everything (needs a login)')
    .option('--no-mail-import', 'without the permission "E-Mails automatisch einlesen" (default: with it, for people with a login)')
    .option('--json', 'machine-readable output')
    .action(async (o: { name: string; email: string; login?: string; external?: boolean; inactive?: boolean; admin?: boolean; mailImport: boolean; json?: boolean }) => {
      const s = await addStaff((await getContext()).db, {
        ...o,
        role: o.admin ? 'admin' : 'staff',
        // commander sets mailImport=true by default; only an explicit --no-mail-import turns it off
        mailImport: o.mailImport === false ? false : undefined,
      });
      const view = { id: s.id, name: s.name, email: s.email, login: s.login, active: s.active, external: s.external, role: s.role, mailImport: s.mailImport };
      o.json ? json(io, view) : io.out(`added staff ${s.id}: ${s.name} <${s.email}>${s.login ? ` login ${s.login}` : ''}\n`);
    });
  staffCmd
    .command('passwd <login>')
    .description('set the password the staff member logs in with (argon2id hash stored)')
    .requiredOption('--password-stdin', 'read the password from standard input')
    .action(async (login: string) => {
      await setStaffPassword((await getContext()).db, login, await passwordFromStdin(io));
      io.out(`password of ${login} set\n`);
    });
  staffCmd
    .command('list')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const rows = await listStaff((await getContext()).db);
      o.json ? json(io, rows) : io.out(table(rows, ['id', 'name', 'email', 'login', 'role', 'active', 'external', 'mailImport']));
    });

  const mapping = program.command('mapping').description('sender mapping ("E-Mail-Adressen verwalten"): Von → An');
  mapping
    .command('add')
    .requiredOption('--from <address>', 'sender address: the e-mail of an active staff record')
    .requiredOption('--to <login>', 'login of an active staff member who gets the task')
    .option('--route-waiting', 'also route the unassigned tasks already waiting from this sender')
    .option('--json', 'machine-readable output')
    .action(async (o: { from: string; to: string; routeWaiting?: boolean; json?: boolean }) => {
      const { db } = await getContext();
      const r = await addMapping(db, o.from, o.to);
      const w = await waitingAfterMapping(db, r.from, Boolean(o.routeWaiting));
      o.json ? json(io, { from: r.from, to: o.to, waiting: w.waiting, routed: w.routed }) : io.out(`${r.from} → ${o.to}\n${w.text}`);
    });
  mapping
    .command('list')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const rows = await listMappings((await getContext()).db);
      o.json ? json(io, rows) : io.out(table(rows, ['from', 'toLogin', 'toName']));
    });

  const settings = program.command('settings').description('import settings per channel ("Automatisches Einlesen")');
  settings
    .command('show')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const rows = await listChannelSettings((await getContext()).db);
      o.json ? json(io, rows) : io.out(table(rows, ['channel', 'activityType', 'autoImport', 'pollIntervalMinutes', 'autoComplete']));
    });
  const yesNo = (flag: string, text: string) => new Option(flag, text).choices(['yes', 'no']);
  settings
    .command('set')
    .addOption(channelOption())
    .addOption(yesNo('--auto-complete <yes|no>', 'create tasks already completed ("E-Mails automatisch abschließen")'))
    .addOption(yesNo('--auto-import <yes|no>', 'poll on a cycle ("E-Mails automatisch einlesen"); no: at start and when asked'))
    .option('--poll-interval <minutes>', 'cycle length, 1–1440 ("Automatisches Einlesen alle x Minuten")')
    .action(async (o: { channel: string; autoComplete?: string; autoImport?: string; pollInterval?: string }) => {
      if (o.autoComplete === undefined && o.autoImport === undefined && o.pollInterval === undefined) {
        throw new ValidationError('settings', 'nothing to change: give --auto-complete, --auto-import or --poll-interval');
      }
      const ctx = await getContext();
      await setImportSettings(ctx, o.channel, {
        autoComplete: o.autoComplete === undefined ? undefined : o.autoComplete === 'yes',
        autoImport: o.autoImport === undefined ? undefined : o.autoImport === 'yes',
        pollIntervalMinutes: o.pollInterval === undefined ? undefined : Number(o.pollInterval),
      });
      io.out(`settings of ${o.channel} changed\n`);
    });

  program
    .command('ingest <files...>')
    .description('import .eml files through the same ingest pipeline as the SMTP receiver; goes on past a file that fails')
    .addOption(channelOption())
    .option('--json', 'machine-readable output')
    .action(async (files: string[], o: { channel: string; json?: boolean }) => {
      const ctx = await getContext();
      const channel = parseChannel(o.channel);
      const results: FileIngestResult[] = [];
      for (const f of files) {
        const r = await ingestFile(ctx, f, path.resolve(io.cwd, f), channel);
        results.push(r);
        // failures on stderr, with --json too: stdout carries only the array
        if (!r.ok) io.err(`${r.error.code === 'file.unreadable' ? 'refused (file)' : 'failed (ingest)'}: ${r.error.message}\n`);
        else if (!o.json) io.out(`${storedLine(r)}\n`);
      }
      if (o.json) json(io, results);
      else io.out(`${ingestSummary(results)}\n`);
      if (results.some((r) => !r.ok)) throw new AlreadyReported();
    });

  const msg = program.command('messages').description('stored messages');
  msg
    .command('list')
    .option('--limit <n>', 'how many', '50')
    .option('--json', 'machine-readable output')
    .action(async (o: { limit: string; json?: boolean }) => {
      const limit = positiveInt(o.limit, 'limit');
      const rows = await messages.listMessages((await getContext()).db, { limit, offset: 0 });
      o.json ? json(io, rows) : io.out(table(rows, ['id', 'receivedAt', 'senderAddress', 'subject', 'size', 'parseError']));
      moreHint(io, rows.length, limit);
    });
  msg
    .command('show <id>')
    .option('--json', 'machine-readable output')
    .action(async (id: string, o: { json?: boolean }) => {
      const m = await messages.showMessage((await getContext()).db, positiveInt(id, 'id'));
      if (o.json) return json(io, m);
      io.out(
        [
          `Message ${m.id}`,
          `From:        ${m.senderName ? `${m.senderName} ` : ''}<${m.senderAddress ?? ''}>`,
          `Subject:     ${m.subject ?? ''}`,
          `Date:        ${m.date.toISOString()}${m.dateFromHeader ? '' : ' (time of receipt)'}`,
          `Message-ID:  ${m.messageIdHeader ?? '(none)'}`,
          `Size:        ${m.size} bytes, SHA-256 ${m.sha256}`,
          m.parseError ? `UNREADABLE:  ${m.parseError}` : '',
          m.automated ? `Automated:   ${m.automated} (RFC 3834: never answered automatically)` : '',
          m.incomplete ? 'INCOMPLETE:  not everything of the message is in the parsed copy; the raw .eml is authoritative' : '',
          ...m.parseIssues.map((i) => `Parse note:  ${i.code}${i.params ? ` ${JSON.stringify(i.params)}` : ''}`),
          'Attachments:',
          table(m.attachments, ['id', 'filename', 'contentType', 'size', 'sha256']),
        ]
          .filter(Boolean)
          .join('\n'),
      );
    });
  msg
    .command('raw <id>')
    .description('write the raw message, byte for byte, to stdout')
    .action(async (id: string) => {
      const raw = await messages.rawMessage((await getContext()).db, positiveInt(id, 'id'));
      for await (const chunk of raw.chunks) io.out(chunk);
    });

  const tasks = program.command('tasks').description('tasks ("Vorgänge")');
  tasks
    .command('list')
    .addOption(new Option('--status <status>').choices(TASK_STATUSES as unknown as string[]))
    .addOption(new Option('--channel <channel>').choices(CHANNELS as unknown as string[]))
    .option('--limit <n>', 'how many', '100')
    .option('--json', 'machine-readable output')
    .action(async (o: { status?: string; channel?: string; limit: string; json?: boolean }) => {
      const limit = positiveInt(o.limit, 'limit');
      const rows = await listTasks((await getContext()).db, {
        status: o.status as TaskStatus | undefined,
        channel: o.channel ? parseChannel(o.channel) : undefined,
        limit,
      });
      moreHint(io, rows.length, limit);
      if (o.json) return json(io, rows);
      io.out(
        table(
          rows.map((t) => ({
            ...t,
            candidates: t.candidates.map((c) => c.login ?? c.name).join(', '),
            assignee: t.assignee ? (t.assignee.login ?? t.assignee.name) : '',
            flags: taskFlags(t),
          })),
          ['id', 'status', 'channel', 'activityType', 'sender', 'subject', 'candidates', 'assignee', 'flags'],
        ),
      );
    });

  // issue 5: sync, task actions, history, day view, staff deactivate, mapping route
  registerTaskCommands({ tasks, staff: staffCmd, mapping }, io, getContext);

  const device = program.command('device').description('device accounts for SMTP AUTH (scanners)');
  device
    .command('add <name>')
    .requiredOption('--password-stdin', 'read the password from standard input')
    .action(async (name: string) => {
      await addDevice((await getContext()).db, name, await passwordFromStdin(io));
      io.out(`added device ${name}\n`);
    });
  device
    .command('passwd <name>')
    .requiredOption('--password-stdin', 'read the new password from standard input')
    .action(async (name: string) => {
      await setDevicePassword((await getContext()).db, name, await passwordFromStdin(io));
      io.out(`password of ${name} changed\n`);
    });
  for (const [cmd, active] of [['enable', true], ['disable', false]] as const) {
    device.command(`${cmd} <name>`).action(async (name: string) => {
      await setDeviceActive((await getContext()).db, name, active);
      io.out(`device ${name} ${cmd}d\n`);
    });
  }
  device
    .command('list')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const rows = await listDevices((await getContext()).db);
      o.json ? json(io, rows) : io.out(table(rows, ['name', 'active', 'createdAt', 'lastAuthAt']));
    });

  const mailboxCmd = program.command('mailbox').description('polled mailboxes per channel (IMAP or POP3)');
  mailboxCmd
    .command('set <channel>')
    .description('create or change the mailbox of a channel; unset options keep their value')
    .addOption(new Option('--protocol <protocol>').choices(['imap', 'pop3']))
    .option('--host <host>', 'server host name or address')
    .option('--port <port>', 'default: IMAP 993/143, POP3 995/110 by security ("" sets the default again)')
    .addOption(new Option('--security <mode>', 'implicit TLS, STARTTLS or none').choices(['tls', 'starttls', 'none']))
    .option('--user <name>', 'user name, passed as given (AGENCY\\scan, scan@agency.example)')
    .option('--password-stdin', 'read the password from standard input')
    .option('--folder <folder>', 'IMAP folder (default INBOX); POP3 has none')
    .option('--after-import <action>', 'IMAP: seen (default), move:<folder>, delete, keep; POP3: delete (default), keep')
    .option('--ca-file <path>', 'PEM file of the CA that signed the server certificate ("" removes it)')
    .addOption(yesNo('--tls-legacy <yes|no>', 'admit TLS 1.0/1.1 for an old server (OpenSSL security level 0)'))
    .option('--import-since <date>', 'import only mail newer than this date, YYYY-MM-DD ("" removes it)')
    .addOption(yesNo('--enabled <yes|no>', 'poll this mailbox'))
    .action(async (channel: string, o: Record<string, string | boolean | undefined>) => {
      const ctx = await getContext();
      await setMailbox(ctx, channel, {
        protocol: o.protocol as string | undefined,
        host: o.host as string | undefined,
        port: o.port as string | undefined,
        security: o.security as string | undefined,
        username: o.user as string | undefined,
        password: o.passwordStdin ? await passwordFromStdin(io) : undefined,
        folder: o.folder as string | undefined,
        afterImport: o.afterImport as string | undefined,
        caFile: o.caFile === undefined ? undefined : o.caFile === '' ? '' : path.resolve(io.cwd, String(o.caFile)),
        tlsLegacy: o.tlsLegacy === undefined ? undefined : o.tlsLegacy === 'yes',
        importSince: o.importSince as string | undefined,
        enabled: o.enabled === undefined ? undefined : o.enabled === 'yes',
      });
      const saved = await showMailbox(ctx, parseChannel(channel));
      // port and after-import follow protocol and security unless given: say what they are now
      io.out(`mailbox of ${channel} saved: ${saved!.protocol} ${saved!.host}:${saved!.port} (${saved!.security}), after import ${saved!.afterImport}\n`);
    });
  mailboxCmd
    .command('show [channel]')
    .option('--json', 'machine-readable output')
    .action(async (channel: string | undefined, o: { json?: boolean }) => {
      const ctx = await getContext();
      const channels = channel ? [parseChannel(channel)] : [...CHANNELS];
      const rows = [];
      for (const c of channels) rows.push({ channel: c, mailbox: await showMailbox(ctx, c) });
      if (o.json) return json(io, channel ? rows[0]!.mailbox : rows);
      for (const { channel: c, mailbox: m } of rows) {
        if (!m) {
          io.out(`${c}: no mailbox\n`);
          continue;
        }
        const h = m.health;
        io.out(
          `${c}: ${m.protocol} ${m.username} @ ${m.host}:${m.port} (${m.security})${m.folder === null ? '' : `, folder ${m.folder}`}, after import ${m.afterImport}` +
            `${m.enabled ? '' : ', DISABLED'}\n  last success ${h?.lastSuccessAt?.toISOString() ?? 'never'}, ` +
            `failures in a row ${h?.consecutiveFailures ?? 0}, imported ${h?.importedTotal ?? 0}` +
            `${h?.lastError ? `\n  last error ${h.lastErrorAt?.toISOString()}: ${h.lastError}${h.lastSuccessAt && h.lastErrorAt && h.lastSuccessAt > h.lastErrorAt ? ' (resolved: polled fine since)' : ''}` : ''}` +
            m.leftOnServer.map((f) => `\n  left on the server: ${f.item}: ${f.reason}`).join('') +
            '\n',
        );
      }
    });
  mailboxCmd
    .command('test <channel>')
    .description('connect → TLS → login → folder → fetch, and say which step failed')
    .option('--json', 'machine-readable output')
    .action(async (channel: string, o: { json?: boolean }) => {
      const ctx = await getContext();
      const steps = await ctx.mailboxes.test(parseChannel(channel));
      if (o.json) json(io, steps);
      else for (const s of steps) io.out(`${s.ok ? 'ok  ' : 'FAIL'} ${s.step.padEnd(7)} ${s.detail}\n`);
      if (steps.some((s) => !s.ok)) throw new MailboxTestFailed();
    });
  mailboxCmd
    .command('poll <channel>')
    .description('poll the mailbox now')
    .option('--json', 'machine-readable output')
    .action(async (channel: string, o: { json?: boolean }) => {
      const ctx = await getContext();
      const c = parseChannel(channel);
      const shown = await showMailbox(ctx, c);
      if (shown && !shown.enabled) io.err(`note: the ${c} mailbox is disabled (--enabled no); polled once because you asked\n`);
      try {
        const report = await ctx.mailboxes.poll(c);
        o.json ? json(io, report) : io.out(`imported ${report.imported}, already stored ${report.duplicates}, failed ${report.failed}, too large ${report.tooLarge}, skipped ${report.skipped}\n`);
      } catch (err) {
        if (err instanceof MailboxError || err instanceof LeaseHeldError) throw new ValidationError(err instanceof MailboxError ? err.step : 'lease', err.message);
        throw err;
      }
    });

  const token = program.command('token').description('per-user API tokens for /api/v1');
  token
    .command('create <login>')
    .description('create a token acting as the staff member <login>; printed once, stored hashed')
    .option('--name <name>', 'label to list and revoke it by')
    .action(async (login: string, o: { name?: string }) => {
      io.out(`${await createToken((await getContext()).db, login, o.name)}\n`);
    });
  token
    .command('list')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const rows = await listTokens((await getContext()).db);
      o.json ? json(io, rows) : io.out(table(rows, ['name', 'login', 'createdAt']));
    });
  token.command('revoke <name>').action(async (name: string) => {
    await revokeToken((await getContext()).db, name);
    io.out(`token ${name} revoked\n`);
  });

  // issue 5: open-task list (tasks open), CSV import (staff import, mapping import), activity-type
  registerTaskListCommands({ program, tasks, staff: staffCmd, mapping }, io, getContext);
  // issue 7: smtp set|show|test, outbox list|show|retry
  registerSmtpCommands(program, io, getContext);
  // issue 6: admin create <login> (the browser admin's first admin)
  registerAdminCommands(program, io, getContext, () => passwordFromStdin(io));

  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof MailboxTestFailed || err instanceof AlreadyReported) return 1;
    err = uniqueViolation(err) ?? err;
    if (err instanceof ValidationError) {
      io.err(`refused (${err.field}): ${err.message}\n`);
      return 1;
    }
    if (err instanceof ForbiddenError) {
      io.err(`refused (permission): ${err.message}\n`);
      return 1;
    }
    if (err instanceof NotFoundError) {
      io.err(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
