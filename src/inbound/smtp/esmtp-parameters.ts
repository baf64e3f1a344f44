/**
 * The ESMTP parameters of `MAIL FROM` and `RCPT TO` the receiver takes (RFC 5321 §4.1.1.11,
 * §3.3): only those of the extensions the session was offered — after EHLO the keywords its
 * reply listed (which depend on TLS: AUTH, STARTTLS, REQUIRETLS), after HELO none (RFC 5321
 * §4.1.1.1, RFC 1869 §4: HELO enables no extension). Anything else is answered `555 5.5.4`
 * (RFC 5321 §4.1.2 "555 MAIL FROM/RCPT TO parameters not recognized or not implemented", RFC
 * 3463 X.5.4 "invalid command arguments").
 */

/** The parameter names (upper case) allowed with `MAIL FROM` and with `RCPT TO`. */
export interface AllowedParameters {
  mail: ReadonlySet<string>;
  rcpt: ReadonlySet<string>;
}

/**
 * The parameters each extension keyword defines:
 * SIZE (RFC 1870 §6) · BODY (8BITMIME, RFC 6152 §2) · SMTPUTF8 (RFC 6531 §3.4) ·
 * RET, ENVID and NOTIFY, ORCPT (DSN, RFC 3461 §4) · REQUIRETLS (RFC 8689 §4.1) · AUTH (RFC 4954 §5).
 * @param advertised the EHLO keywords (upper case) this session was offered; empty after HELO
 * @returns the allowed names per command; the values are checked by smtp-server (`501` when wrong)
 */
export function allowedParameters(advertised: ReadonlySet<string>): AllowedParameters {
  const mail = new Set<string>();
  const rcpt = new Set<string>();
  if (advertised.has('SIZE')) mail.add('SIZE');
  if (advertised.has('8BITMIME')) mail.add('BODY');
  if (advertised.has('SMTPUTF8')) mail.add('SMTPUTF8');
  if (advertised.has('DSN')) {
    mail.add('RET').add('ENVID');
    rcpt.add('NOTIFY').add('ORCPT');
  }
  if (advertised.has('REQUIRETLS')) mail.add('REQUIRETLS');
  if (advertised.has('AUTH')) mail.add('AUTH');
  return { mail, rcpt };
}

/**
 * The parameters of one command that are not allowed.
 * @param args smtp-server's parsed `args` (upper-case keys), or false when the command had none
 * @param allowed the names allowed for this command
 * @returns the unknown names in the order given; empty when all are known
 */
export function unknownParameters(args: Record<string, unknown> | false | undefined, allowed: ReadonlySet<string>): string[] {
  return args ? Object.keys(args).filter((name) => !allowed.has(name.toUpperCase())) : [];
}
