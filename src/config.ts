import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';

/** Loopback plus the RFC 1918 private ranges (and IPv6 loopback / unique local). */
export const DEFAULT_ALLOWED_NETWORKS = '127.0.0.0/8,::1/128,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7';

/** A whole decimal number written as digits only (no `0x50`, `1e3` or blanks). */
const decimal = (message: string) => z.string().trim().regex(/^\d+$/, message).transform(Number);

const port = decimal('must be a whole number').pipe(z.number().max(65535, 'must be between 0 and 65535'));

const flag = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ['true', 'false', 'yes', 'no', '1', '0', 'on', 'off'].includes(v), 'must be true or false')
  .transform((v) => ['true', 'yes', '1', 'on'].includes(v));

const count = (min: number) =>
  decimal('must be a whole number').pipe(z.number().min(min, `must be at least ${min}`));

const cidrList = z.string().default(DEFAULT_ALLOWED_NETWORKS).transform((value, ctx) => {
  const ranges: [ipaddr.IPv4 | ipaddr.IPv6, number][] = [];
  for (const part of value.split(',').map((s) => s.trim()).filter(Boolean)) {
    try {
      ranges.push(ipaddr.parseCIDR(part));
    } catch {
      ctx.addIssue({ code: 'custom', message: `"${part}" is not a CIDR range such as 192.168.0.0/16` });
      return z.NEVER;
    }
  }
  if (ranges.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'must name at least one CIDR range' });
    return z.NEVER;
  }
  return ranges;
});

/** What `HTTP_TRUST_PROXY=true` trusts: a reverse proxy on the same machine (IPv4 and IPv6 loopback). */
export const LOOPBACK_NETWORKS = '127.0.0.0/8,::1/128';

/**
 * `HTTP_TRUST_PROXY`: the peers whose X-Forwarded-* headers are believed. `false` (the default):
 * nobody; `true`: loopback only ({@link LOOPBACK_NETWORKS}); otherwise a comma-separated list of
 * addresses (`10.0.0.5`, `2001:db8::1`) and CIDR ranges (`10.0.0.0/24`). Addresses are written as
 * RFC 4291 / dotted-quad text only (no `0x0a000001` or `10.1`).
 */
const trustedProxies = z
  .string()
  .default('false')
  .transform((value, ctx) => {
    const word = value.trim().toLowerCase();
    if (['false', 'no', '0', 'off'].includes(word)) return [];
    const list = ['true', 'yes', '1', 'on'].includes(word) ? LOOPBACK_NETWORKS : value;
    const ranges: [ipaddr.IPv4 | ipaddr.IPv6, number][] = [];
    for (const part of list.split(',').map((s) => s.trim()).filter(Boolean)) {
      const [address = '', bits, extra] = part.split('/');
      const ip = isIP(address) && extra === undefined && (bits === undefined || /^\d{1,3}$/.test(bits)) ? (bits === undefined ? ipaddr.process(address) : ipaddr.parse(address)) : null;
      if (ip && (bits === undefined || Number(bits) <= (ip.kind() === 'ipv4' ? 32 : 128))) {
        ranges.push([ip, bits === undefined ? (ip.kind() === 'ipv4' ? 32 : 128) : Number(bits)]);
        continue;
      }
      ctx.addIssue({
        code: 'custom',
        message: `"${part}" is not an IP address or CIDR range such as 10.0.0.5 or 10.0.0.0/24; use false, true (loopback only) or a comma-separated list of the reverse proxy's addresses`,
      });
      return z.NEVER;
    }
    if (ranges.length === 0) {
      ctx.addIssue({ code: 'custom', message: 'must be false, true (loopback only) or a comma-separated list of addresses and CIDR ranges' });
      return z.NEVER;
    }
    return ranges;
  });

const schema = z.object({
  DATABASE_URL: z
    .string()
    .optional()
    .refine((v) => !v || /^postgres(ql)?:\/\//.test(v), 'must start with postgres:// or postgresql://'),
  DATA_DIR: z.string().min(1, 'must not be empty').default('./data'),
  SMTP_HOST: z.string().min(1, 'must not be empty').default('0.0.0.0'),
  SMTP_PORT: port.default(2525),
  HTTP_HOST: z.string().min(1, 'must not be empty').default('0.0.0.0'),
  HTTP_PORT: port.default(8080),
  SMTP_ALLOWED_NETWORKS: cidrList,
  SMTP_MAX_MESSAGE_BYTES: decimal('must be a whole number of bytes')
    .pipe(z.number().min(1024, 'must be at least 1024 bytes'))
    .default(50 * 1024 * 1024),
  /** PEM certificate chain and key for STARTTLS and the implicit-TLS port (usually given as *_FILE paths). */
  SMTP_TLS_CERT: z.string().includes('-----BEGIN', { message: 'must be a PEM certificate (-----BEGIN CERTIFICATE-----)' }).optional(),
  SMTP_TLS_KEY: z.string().includes('-----BEGIN', { message: 'must be a PEM private key (-----BEGIN … PRIVATE KEY-----)' }).optional(),
  /** Without a certificate, generate a self-signed one into DATA_DIR/tls (so STARTTLS is offered). */
  SMTP_TLS_SELF_SIGNED: flag.default(true),
  /** Optional implicit-TLS listener (the "port 465" style, RFC 8314). */
  SMTP_TLS_PORT: port.optional(),
  /** Admit TLS 1.0/1.1 clients (old scanners): lowers Node's minVersion and OpenSSL's security level. */
  SMTP_TLS_LEGACY: flag.default(false),
  /** SMTP AUTH for device accounts: off, optional (default) or required. */
  SMTP_AUTH: z.enum(['off', 'optional', 'required'], { message: 'must be off, optional or required' }).default('optional'),
  /** Allow AUTH PLAIN/LOGIN without TLS (only clients in SMTP_ALLOWED_NETWORKS can connect at all). */
  SMTP_AUTH_ALLOW_CLEARTEXT: flag.default(false),
  SMTP_MAX_CONNECTIONS: count(1).default(100),
  /**
   * Concurrent connections per client address. A tenth of SMTP_MAX_CONNECTIONS by default, so
   * that slow or stuck clients from a few addresses never fill the receiver (ten addresses are
   * needed to take every slot); the receiver warns at start when two addresses could.
   */
  SMTP_MAX_CONNECTIONS_PER_IP: count(1).default(10),
  /** RFC 5321 §4.5.3.1.8: a server must accept at least 100 recipients; lower only on purpose. */
  SMTP_MAX_RECIPIENTS: count(1).default(100),
  /** Idle time allowed between commands, seconds (RFC 5321 §4.5.3.2.7: at least 5 minutes). */
  SMTP_COMMAND_TIMEOUT_SECONDS: count(1).default(300),
  /** Idle time allowed inside DATA before answering 451, seconds (RFC 5321 §4.5.3.2.6: 3 minutes). */
  SMTP_DATA_TIMEOUT_SECONDS: count(1).default(180),
  /**
   * Deadline for one command line, seconds, counted from its first byte however slowly the rest
   * trickles in (the idle timeout restarts with every byte); `421 4.4.2` and close past it.
   */
  SMTP_COMMAND_DEADLINE_SECONDS: count(1).default(60),
  /**
   * The DATA phase may last max(SMTP_DATA_DEADLINE_SECONDS, bytes received / SMTP_DATA_MIN_BYTES_PER_SECOND)
   * seconds (bytes counted up to SMTP_MAX_MESSAGE_BYTES); `421 4.4.2` and close past it.
   */
  SMTP_DATA_DEADLINE_SECONDS: count(1).default(300),
  /** Minimum average transfer rate inside DATA once SMTP_DATA_DEADLINE_SECONDS have passed, bytes per second. */
  SMTP_DATA_MIN_BYTES_PER_SECOND: count(1).default(10240),
  /** Failed AUTH attempts per connection; the last one is answered `421 4.7.0` and the connection closed. */
  SMTP_AUTH_MAX_FAILURES: count(1).default(3),
  /**
   * A session must complete a message transaction (the `250` after DATA) within this many
   * seconds of connecting or of its last one, whatever else it sends (NOOP, RSET …): `421 4.4.2`
   * and close past it. The time inside DATA and the gateway's own processing do not count.
   * At least SMTP_COMMAND_DEADLINE_SECONDS.
   */
  SMTP_SESSION_IDLE_SECONDS: count(1).default(300),
  /**
   * Junk commands (NOOP, RSET, VRFY, EXPN, HELP, HELO, EHLO) allowed between two delivered
   * messages; the next one is answered `421 4.7.0` and the connection closed (Postfix's
   * smtpd_junk_command_limit, whose default this is).
   */
  SMTP_MAX_JUNK_COMMANDS: count(1).default(100),
  /** Key for secrets at rest (AES-256-GCM): 32 bytes as 64 hex digits or base64; usually SECRET_KEY_FILE. */
  SECRET_KEY: z
    .string()
    .trim()
    .refine((v) => /^[0-9a-fA-F]{64}$/.test(v) || Buffer.from(v, 'base64').length === 32, 'must be 32 bytes, as 64 hex digits or base64')
    .optional(),
  /** Outbox (issue 7): delivery attempts per message before it fails (temporary failures: 4xx, connection errors, timeouts). */
  OUTBOX_MAX_ATTEMPTS: count(1).default(10),
  /** First wait after a temporary failure, seconds; doubled per attempt up to OUTBOX_RETRY_MAX_SECONDS. */
  OUTBOX_RETRY_BASE_SECONDS: count(1).default(60),
  OUTBOX_RETRY_MAX_SECONDS: count(1).default(3600),
  /** How long a claimed message stays leased to one gateway without renewal, seconds (renewed while it is sent). */
  OUTBOX_LEASE_SECONDS: count(2).default(120),
  /** The outbox worker also looks for due mail this often, seconds (besides waking on every enqueue). */
  OUTBOX_POLL_SECONDS: count(1).default(30),
  /** Connection, greeting and inactivity timeout towards the SMTP server, seconds. */
  SMTP_SEND_TIMEOUT_SECONDS: count(1).default(60),
  /**
   * The reverse proxies in front of the HTTP port (addresses and CIDR ranges; `true` is loopback
   * only, `false` nobody): only a request whose peer is one of them has its X-Forwarded-Proto,
   * -Host and -For believed (admin: Secure cookies, same-origin check, client address for throttling).
   */
  HTTP_TRUST_PROXY: trustedProxies,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = z.infer<typeof schema> & { dataDir: string };

/** A configuration value that was refused; `message` is one line naming the variable and why. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    reason: string,
  ) {
    super(`Invalid configuration: ${variable} ${reason}`);
    this.name = 'ConfigError';
  }
}

/**
 * Reads the gateway's configuration from environment variables, once.
 * Every variable `X` may instead be given as `X_FILE` (a path whose content, trimmed, is the value),
 * for secrets handed in by Docker or systemd.
 * @param env the environment (default `process.env`)
 * @returns the validated configuration; `dataDir` is `DATA_DIR` made absolute
 * @throws ConfigError naming the first invalid variable and the reason (also
 *   SMTP_SESSION_IDLE_SECONDS below SMTP_COMMAND_DEADLINE_SECONDS)
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const values: Record<string, string | undefined> = {};
  for (const key of Object.keys(schema.shape)) {
    const fileVar = `${key}_FILE`;
    const direct = env[key];
    const file = env[fileVar];
    // empty or blank counts as unset (a blank SMTP_PORT would otherwise coerce to 0, "any port")
    if (direct !== undefined && direct.trim() !== '') values[key] = direct;
    else if (file) {
      try {
        values[key] = readFileSync(file, 'utf8').trim();
      } catch (err) {
        throw new ConfigError(fileVar, `cannot be read: ${(err as Error).message}`);
      }
      if (values[key] === '') throw new ConfigError(fileVar, `names an empty file (${file})`);
    }
  }
  if (Boolean(values.SMTP_TLS_CERT) !== Boolean(values.SMTP_TLS_KEY)) {
    throw new ConfigError(values.SMTP_TLS_CERT ? 'SMTP_TLS_KEY_FILE' : 'SMTP_TLS_CERT_FILE', 'is missing: a certificate and its key go together');
  }
  const result = schema.safeParse(values);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ConfigError(String(issue.path[0] ?? 'environment'), issue.message);
  }
  if (result.data.SMTP_SESSION_IDLE_SECONDS < result.data.SMTP_COMMAND_DEADLINE_SECONDS) {
    // a command line allowed to take longer than the whole session would be cut by the session limit
    throw new ConfigError('SMTP_SESSION_IDLE_SECONDS', `must be at least SMTP_COMMAND_DEADLINE_SECONDS (${result.data.SMTP_COMMAND_DEADLINE_SECONDS})`);
  }
  return { ...result.data, dataDir: path.resolve(result.data.DATA_DIR) };
}

/**
 * Whether an IP address lies inside one of the given CIDR ranges.
 * IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) are compared as IPv4.
 * @param address textual IPv4 or IPv6 address as reported by the socket
 * @returns false for an unparsable address
 */
export function addressInNetworks(address: string, networks: Config['SMTP_ALLOWED_NETWORKS']): boolean {
  let ip: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    ip = ipaddr.process(address);
  } catch {
    return false;
  }
  return networks.some(([range, bits]) => range.kind() === ip.kind() && ip.match(range, bits));
}
