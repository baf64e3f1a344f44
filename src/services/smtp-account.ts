import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { AppContext } from '../context.js';
import { getSmtpAccount, saveSmtpAccount } from '../db/repositories/outbox-account.js';
import { SMTP_AUTH_METHODS, SMTP_SECURITY, type SmtpAuthMethod, type SmtpSecurity } from '../db/schema.js';
import { composeMessage, newMessageId, oneLine, parseAddresses } from '../outbound/compose.js';
import { deliver, DeliveryError, type SmtpSettings, type StepReport } from '../outbound/transport.js';
import { checkCaFile } from './ca-file.js';
import { NotFoundError, ValidationError } from './errors.js';
import { hostName } from './validate.js';

/** AES-GCM purpose of the stored SMTP password (secrets.ts). */
const PASSWORD_PURPOSE = 'smtp:account';

/** Default port by security (RFC 8314 §3.3: 465 implicit TLS; RFC 6409: 587 submission with STARTTLS; RFC 5321: 25). */
export function defaultSmtpPort(security: SmtpSecurity): number {
  return security === 'tls' ? 465 : security === 'starttls' ? 587 : 25;
}

export interface SmtpAccountInput {
  host?: string;
  port?: number | string;
  security?: string;
  auth?: string;
  username?: string;
  /** only set when given: an empty or missing value keeps the stored password */
  password?: string;
  /** sender address (From and MAIL FROM) */
  fromAddress?: string;
  /** display name in From; empty string removes it */
  fromName?: string;
  /** path of a PEM CA file; empty string removes it */
  caFile?: string;
  tlsLegacy?: boolean;
}

function oneOf<T extends string>(value: string, allowed: readonly T[], field: string): T {
  if (!(allowed as readonly string[]).includes(value)) throw new ValidationError(field, `"${value}" is not one of: ${allowed.join(', ')}`);
  return value as T;
}

/**
 * Creates or changes the central sending account ("Versand", domain.md item 2). Unset fields keep
 * their stored value; a new account needs host and sender address. The port defaults from the
 * security (465/587/25) when it is not given and the security changes. With auth plain|login a
 * user and a password are needed; the password is stored encrypted (secrets.ts) and never returned.
 * @throws ValidationError naming the field and why
 */
export async function setSmtpAccount(ctx: AppContext, input: SmtpAccountInput): Promise<void> {
  const current = await getSmtpAccount(ctx.db);
  const security = oneOf(input.security ?? current?.security ?? 'starttls', SMTP_SECURITY, 'security');
  const host = hostName(oneLine(input.host ?? current?.host ?? '', 'host'));
  let port: number;
  if (input.port !== undefined && input.port !== '') {
    port = Number(input.port);
    if (!/^\d+$/.test(String(input.port).trim()) || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new ValidationError('port', `"${input.port}" is not a port (1–65535)`);
    }
  } else if (current && input.security === undefined) {
    port = current.port;
  } else {
    port = defaultSmtpPort(security);
  }
  const auth = oneOf(input.auth ?? current?.auth ?? 'none', SMTP_AUTH_METHODS, 'auth') as SmtpAuthMethod;
  let username: string | null = null;
  let passwordEncrypted: string | null = null;
  // a user or password given for an account that stays without authentication would be dropped
  // silently (`smtp set --user foo` alone); choosing none in the same call discards them on purpose
  if (auth === 'none' && input.auth === undefined && (input.username?.trim() || input.password)) {
    throw new ValidationError('auth', `a ${input.username?.trim() ? 'user name' : 'password'} is only used with authentication plain or login; choose one (auth) or leave it out`);
  }
  if (auth !== 'none') {
    username = oneLine(input.username ?? current?.username ?? '', 'user');
    if (!username) throw new ValidationError('user', `authentication ${auth} needs a user name`);
    passwordEncrypted = current?.passwordEncrypted ?? null;
    if (input.password) passwordEncrypted = ctx.secrets.encrypt(oneLine(input.password, 'password'), PASSWORD_PURPOSE);
    if (!passwordEncrypted) throw new ValidationError('password', `authentication ${auth} needs a password (--password-stdin)`);
  }
  const fromValue = input.fromAddress ?? current?.fromAddress;
  if (!fromValue) throw new ValidationError('from', 'a sender address is required');
  const from = parseAddresses(fromValue, 'from', true);
  if (from.length !== 1) throw new ValidationError('from', 'exactly one sender address is required');
  // `"Stadt Musterhausen" <post@…>`: that name becomes the display name unless one is typed apart;
  // no display name given at all keeps the stored one, an empty one clears it
  const nameInAddress = input.fromAddress !== undefined ? from[0]!.name.trim() : '';
  const typedName = input.fromName?.trim();
  const fromName = oneLine(typedName || nameInAddress || (input.fromName === undefined ? (current?.fromName ?? '') : ''), 'fromName') || null;
  let caFile = current?.caFile ?? null;
  if (input.caFile !== undefined) {
    caFile = await checkCaFile(input.caFile);
  }
  await saveSmtpAccount(ctx.db, {
    host,
    port,
    security,
    auth,
    username,
    passwordEncrypted,
    fromAddress: from[0]!.address,
    fromName,
    caFile,
    tlsLegacy: input.tlsLegacy ?? current?.tlsLegacy ?? false,
  });
  ctx.log.info({ component: 'smtp-account', host, port, security, auth }, 'SMTP account saved');
}

/** The sending account as shown to admins: never the password, only whether one is stored; null when none is set. */
export async function showSmtpAccount(ctx: AppContext) {
  const row = await getSmtpAccount(ctx.db);
  if (!row) return null;
  const { passwordEncrypted, id: _id, ...visible } = row;
  return { ...visible, hasPassword: passwordEncrypted !== null };
}

/** Settings for a delivery, plus the sender. */
export interface SmtpAccount {
  settings: SmtpSettings;
  from: { name: string; address: string };
}

/**
 * The account with its password decrypted and CA file read, for the transport.
 * @throws NotFoundError when no account is set; DeliveryError (step tls, temporary) when the CA
 *   file cannot be read any more; SecretError when the key changed
 */
export async function loadSmtpAccount(ctx: AppContext): Promise<SmtpAccount> {
  const row = await getSmtpAccount(ctx.db);
  if (!row) throw new NotFoundError('no SMTP account is set; set one with: smtp set --host … --from …');
  let ca: string | null = null;
  if (row.caFile) {
    try {
      ca = await readFile(row.caFile, 'utf8');
    } catch (err) {
      throw new DeliveryError('tls', `the CA file ${row.caFile} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); set it again with --ca-file`, true, null, null);
    }
  }
  return {
    settings: {
      host: row.host,
      port: row.port,
      security: row.security,
      auth: row.auth,
      username: row.username,
      password: row.passwordEncrypted ? ctx.secrets.decrypt(row.passwordEncrypted, PASSWORD_PURPOSE) : null,
      ca,
      tlsLegacy: row.tlsLegacy,
      timeoutMs: ctx.config.SMTP_SEND_TIMEOUT_SECONDS * 1000,
    },
    from: { name: row.fromName ?? '', address: row.fromAddress },
  };
}

/**
 * Sends a test message to `to` through the account, step by step (connect → TLS → login →
 * send), with the same transport the outbox uses; the test message is marked
 * `Auto-Submitted: auto-generated` (RFC 3834). Never throws for a server problem: the failing
 * step is the last report, with `ok: false` and plain words.
 * @throws NotFoundError when no account is set; ValidationError (field `to`) for a bad address
 */
export async function testSmtpAccount(ctx: AppContext, to: string): Promise<StepReport[]> {
  const recipients = parseAddresses(to, 'to', true);
  let account: SmtpAccount;
  try {
    account = await loadSmtpAccount(ctx);
  } catch (err) {
    if (err instanceof DeliveryError) return [{ step: err.step, ok: false, detail: err.message }];
    throw err;
  }
  const raw = await composeMessage({
    from: account.from,
    to: recipients,
    cc: [],
    subject: 'Posteingang: Testnachricht / test message',
    text:
      'Diese Nachricht wurde vom Posteingang zum Test des Versandkontos gesendet.\r\n' +
      'This message was sent by Posteingang to test its sending account.\r\n',
    attachments: [],
    messageId: newMessageId(account.from.address),
    headers: { 'Auto-Submitted': 'auto-generated' },
  });
  const steps: StepReport[] = [];
  try {
    await deliver(account.settings, { from: account.from.address, to: recipients.map((r) => r.address) }, raw, { onStep: (s) => steps.push(s) });
  } catch (err) {
    if (!(err instanceof DeliveryError)) throw err;
  }
  ctx.log.info({ component: 'smtp-account', steps: steps.map((s) => `${s.step}:${s.ok ? 'ok' : 'failed'}`) }, 'SMTP account tested');
  return steps;
}
