/**
 * The ESMTP parameters of `MAIL FROM` and `RCPT TO` the receiver takes (RFC 5321 §4.1.1.11,
 * §3.3): only those of the extensions it advertises in its EHLO reply. Anything else is answered
 * `555 5.5.4` (RFC 5321 §4.1.2 "555 MAIL FROM/RCPT TO parameters not recognized or not
 * implemented", RFC 3463 X.5.4 "invalid command arguments").
 */

/** The smtp-server options that decide which extensions its EHLO reply advertises. */
export interface AdvertisedExtensions {
  /** the SIZE limit in bytes; 0 or absent → SIZE not advertised */
  size?: number;
  hide8BITMIME?: boolean;
  hideSMTPUTF8?: boolean;
  hideDSN?: boolean;
  hideREQUIRETLS?: boolean;
  /** the AUTH command is offered at all (not in `disabledCommands`) */
  auth: boolean;
}

/** The parameter names (upper case) allowed with `MAIL FROM` and with `RCPT TO`. */
export interface AllowedParameters {
  mail: ReadonlySet<string>;
  rcpt: ReadonlySet<string>;
}

/**
 * The parameters each advertised extension defines:
 * SIZE (RFC 1870 §6) · BODY (8BITMIME, RFC 6152 §2) · SMTPUTF8 (RFC 6531 §3.4) ·
 * RET, ENVID and NOTIFY, ORCPT (DSN, RFC 3461 §4) · REQUIRETLS (RFC 8689 §4.1; smtp-server refuses
 * it without TLS itself) · AUTH (RFC 4954 §5).
 * @param ext what the EHLO reply offers
 * @returns the allowed names per command; the values are checked by smtp-server (`501` when wrong)
 */
export function allowedParameters(ext: AdvertisedExtensions): AllowedParameters {
  const mail = new Set<string>();
  const rcpt = new Set<string>();
  if (ext.size) mail.add('SIZE');
  if (!ext.hide8BITMIME) mail.add('BODY');
  if (!ext.hideSMTPUTF8) mail.add('SMTPUTF8');
  if (!ext.hideDSN) {
    mail.add('RET').add('ENVID');
    rcpt.add('NOTIFY').add('ORCPT');
  }
  if (!ext.hideREQUIRETLS) mail.add('REQUIRETLS');
  if (ext.auth) mail.add('AUTH');
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
