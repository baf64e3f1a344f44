import path from 'node:path';
import { Option, type Command } from 'commander';
import type { AppContext } from '../context.js';
import { ValidationError } from '../services/errors.js';
import { listOutbox, retryOutbox, showOutbox, type OutboxView } from '../services/outbox.js';
import { getSendLimits, SEND_LIMIT_BOUNDS, setSendLimits, type SendLimits } from '../services/send-limits.js';
import { setSmtpAccount, showSmtpAccount, testSmtpAccount } from '../services/smtp-account.js';
import { OPERATOR } from '../services/task-actions.js';
import type { CliIo } from './commands.js';
import { table } from './table.js';

const json = (io: CliIo, value: unknown) => io.out(`${JSON.stringify(value, null, 2)}\n`);

/** @throws ValidationError naming `name` unless `value` is a positive whole number */
function positive(value: string, name: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) throw new ValidationError(name, `"${value}" is not a positive whole number`);
  return n;
}

function outboxLine(m: OutboxView): string {
  return (
    `outbox ${m.id}: ${m.state}, to ${m.to || '(cc/bcc only)'}, "${m.subject}", Message-ID ${m.messageId}\n` +
    `  attempts ${m.attempts}${m.nextAttemptAt ? `, next ${m.nextAttemptAt.toISOString()}` : ''}${m.sentAt ? `, sent ${m.sentAt.toISOString()}` : ''}` +
    `${m.lastReply ? `\n  last reply: ${m.lastReply}` : ''}\n`
  );
}

const limitsLine = (l: SendLimits) =>
  `at most ${l.maxRecipients} recipients per message (To, Cc and Bcc together), ${l.maxPerMinute} messages per person per minute${l.updatedAt ? '' : ' (defaults)'}\n`;

/**
 * `smtp set|show|test` (the central sending account, "Versand"), `smtp limits show|set` (the
 * sending limits per person) and `outbox list|show|retry` (issue 7), registered on the program by
 * commands.ts.
 */
export function registerSmtpCommands(program: Command, io: CliIo, getContext: () => Promise<AppContext>): void {
  const yesNo = (flags: string, description: string) => new Option(flags, description).choices(['yes', 'no']);
  const smtp = program.command('smtp').description('the central SMTP account all mail is sent through ("Versand")');
  smtp
    .command('set')
    .description('create or change the sending account; unset options keep their value')
    .option('--host <host>', 'SMTP server host name or address')
    .option('--port <port>', 'default by security: tls 465, starttls 587, none 25')
    .addOption(new Option('--security <mode>', 'implicit TLS, STARTTLS or none').choices(['tls', 'starttls', 'none']))
    .addOption(new Option('--auth <method>', 'SMTP AUTH mechanism').choices(['none', 'plain', 'login']))
    .option('--user <name>', 'user name for AUTH, passed as given')
    .option('--password-stdin', 'read the password from standard input (stored encrypted, never shown)')
    .option('--from <address>', 'sender address (From and MAIL FROM)')
    .option('--from-name <name>', 'display name in From ("" removes it)')
    .option('--ca-file <path>', 'PEM file of the CA that signed the server certificate ("" removes it)')
    .addOption(yesNo('--tls-legacy <yes|no>', 'admit TLS 1.0/1.1 for an old server (OpenSSL security level 0)'))
    .action(async (o: Record<string, string | boolean | undefined>) => {
      let password: string | undefined;
      if (o.passwordStdin) {
        password = (await io.readStdin()).split(/\r?\n/)[0] ?? '';
        if (!password) throw new ValidationError('password', 'expected the password on standard input (--password-stdin)');
      }
      await setSmtpAccount(await getContext(), {
        host: o.host as string | undefined,
        port: o.port as string | undefined,
        security: o.security as string | undefined,
        auth: o.auth as string | undefined,
        username: o.user as string | undefined,
        password,
        fromAddress: o.from as string | undefined,
        fromName: o.fromName as string | undefined,
        caFile: o.caFile === undefined ? undefined : o.caFile === '' ? '' : path.resolve(io.cwd, String(o.caFile)),
        tlsLegacy: o.tlsLegacy === undefined ? undefined : o.tlsLegacy === 'yes',
      });
      io.out('SMTP account saved\n');
    });
  smtp
    .command('show')
    .description('the sending account (never the password)')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const a = await showSmtpAccount(await getContext());
      if (o.json) return json(io, a);
      if (!a) return io.out('no SMTP account set\n');
      io.out(
        `${a.host}:${a.port} (${a.security}${a.tlsLegacy ? ', TLS legacy' : ''}), auth ${a.auth}${a.username ? ` as ${a.username}` : ''}` +
          `${a.auth !== 'none' ? `, password ${a.hasPassword ? 'stored' : 'missing'}` : ''}\n` +
          `from ${a.fromName ? `${a.fromName} <${a.fromAddress}>` : a.fromAddress}${a.caFile ? `, CA file ${a.caFile}` : ''}\n`,
      );
    });
  smtp
    .command('test <to-address>')
    .description('send a test message: connect → TLS → login → send, and say which step failed')
    .option('--json', 'machine-readable output')
    .action(async (to: string, o: { json?: boolean }) => {
      const steps = await testSmtpAccount(await getContext(), to);
      if (o.json) json(io, steps);
      else for (const s of steps) io.out(`${s.ok ? 'ok  ' : 'FAIL'} ${s.step.padEnd(7)} ${s.detail}\n`);
      const failed = steps.find((s) => !s.ok);
      if (failed) throw new ValidationError(failed.step, `the test message was not sent: step ${failed.step} failed`);
    });

  const limits = smtp.command('limits').description('sending limits per person: recipients per message, messages per minute (the CLI itself is not limited)');
  limits
    .command('show')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const l = await getSendLimits((await getContext()).db);
      o.json ? json(io, l) : io.out(limitsLine(l));
    });
  const { maxRecipients: r, maxPerMinute: m } = SEND_LIMIT_BOUNDS;
  limits
    .command('set')
    .description('change the limits; an option left out keeps its value')
    .option('--max-recipients <n>', `recipients (To, Cc and Bcc together) per message, ${r.min}–${r.max}`)
    .option('--max-per-minute <n>', `messages one person may queue per minute, ${m.min}–${m.max}`)
    .option('--json', 'machine-readable output')
    .action(async (o: { maxRecipients?: string; maxPerMinute?: string; json?: boolean }) => {
      const l = await setSendLimits(await getContext(), { maxRecipients: o.maxRecipients, maxPerMinute: o.maxPerMinute });
      o.json ? json(io, l) : io.out(`sending limits saved: ${limitsLine(l)}`);
    });

  const outbox = program.command('outbox').description('mail queued for sending, its state and the server replies');
  outbox
    .command('list')
    .option('--state <states>', 'only these states, comma-separated: queued, sending, sent, failed')
    .option('--limit <n>', 'at most this many (default 100)', '100')
    .option('--json', 'machine-readable output')
    .action(async (o: { state?: string; limit: string; json?: boolean }) => {
      const rows = await listOutbox(await getContext(), {
        states: o.state ? o.state.split(',').map((s) => s.trim()) : undefined,
        limit: positive(o.limit, 'limit'),
      });
      if (o.json) return json(io, rows);
      io.out(table(rows.map((r) => ({ ...r, lastReply: r.lastReply ?? '' })), ['id', 'state', 'to', 'subject', 'attempts', 'lastReply']));
    });
  outbox
    .command('show <id>')
    .option('--json', 'machine-readable output')
    .action(async (id: string, o: { json?: boolean }) => {
      const m = await showOutbox(await getContext(), OPERATOR, positive(id, 'id'));
      o.json ? json(io, m) : io.out(outboxLine(m));
    });
  outbox
    .command('retry <id>')
    .description('queue a failed message again (same Message-ID, attempts counted anew)')
    .option('--json', 'machine-readable output')
    .action(async (id: string, o: { json?: boolean }) => {
      const m = await retryOutbox(await getContext(), positive(id, 'id'));
      o.json ? json(io, m) : io.out(outboxLine(m));
    });
}
