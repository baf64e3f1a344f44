import type { Language } from './index.js';

/*
 * German wording for the services' English messages (ValidationError, NotFoundError,
 * ForbiddenError, the mailbox and SMTP test steps, the stored last poll error). The services, the
 * CLI and the JSON API stay English; only the admin renders these through localizeRefusal().
 *
 * Each rule matches a whole message; captured values (addresses, names, host:port, server
 * replies, OpenSSL texts) go into the German text verbatim. A message that contains another
 * message (a step prefix, "line 3: …", a reason after a colon) localizes the inner part by the
 * same rules. Anything unknown stays as it is, in English, so that no reason is ever lost.
 */

type Rule = [RegExp, (...m: string[]) => string];

const STEP: Record<string, string> = { connect: 'Verbindung', tls: 'TLS', login: 'Anmeldung', folder: 'Ordner', fetch: 'Abruf', send: 'Senden' };
const TASK_STATUS: Record<string, string> = { open: 'offen', unassigned: 'nicht zugeordnet', completed: 'erledigt' };
const OUTBOX_STATE: Record<string, string> = { queued: 'wartend', sending: 'wird gesendet', sent: 'gesendet', failed: 'fehlgeschlagen' };
const CHANNEL: Record<string, string> = { general: '„Empfang Allgemein“', scanner: '„Empfang per Scanner“' };
const THING: Record<string, string> = { 'staff member': 'keine Mitarbeiter*in', 'activity type': 'keine Tätigkeit', mapping: 'keine Zuordnung' };
const ACTION: Record<string, string> = { complete: 'erledigen', reopen: 'wieder öffnen', forward: 'weiterleiten' };
const EXPECTED: Record<string, string> = {
  'the name of an activity type': 'der Name einer Tätigkeit',
  'a login, or none': 'ein Anmeldename oder none',
  'a part of the sender address or name': 'ein Teil der Absenderadresse oder des Absendernamens',
  'an e-mail address': 'eine E-Mail-Adresse',
  'a number of days': 'eine Anzahl von Tagen',
  'a number': 'eine Zahl',
  'a whole number': 'eine ganze Zahl',
  'the login of the staff member who gets the task': 'der Anmeldename der Mitarbeiter*in, die den Vorgang erhält',
  'addresses as text': 'Adressen als Text',
  'a JSON object (Content-Type: application/json)': 'ein JSON-Objekt (Content-Type: application/json)',
};
/** The reasons tlsWords() (src/outbound/transport.ts) gives. */
const SMTP_TLS: Record<string, string> = {
  'the server certificate is not signed by a trusted CA (set the CA file of the intranet CA)':
    'Das Zertifikat des Servers ist nicht von einer vertrauenswürdigen CA signiert (geben Sie die CA-Datei der Intranet-CA an)',
  'the server certificate is for another host name': 'Das Zertifikat des Servers gilt für einen anderen Hostnamen',
  'the server certificate has expired': 'Das Zertifikat des Servers ist abgelaufen',
  'no common TLS version or cipher (an old server may need TLS legacy mode)':
    'keine gemeinsame TLS-Version oder Verschlüsselung (ein alter Server braucht eventuell TLS 1.0/1.1)',
  'the server does not offer STARTTLS': 'Der Server bietet kein STARTTLS an',
  'the server did not answer in TLS: this port speaks plain SMTP; choose STARTTLS (port 587) or the implicit-TLS port (465)':
    'Der Server hat nicht mit TLS geantwortet: Dieser Port spricht unverschlüsseltes SMTP; wählen Sie STARTTLS (Port 587) oder den Port für implizites TLS (465)',
};
const SMTP_CONNECT: Record<string, string> = {
  'connection refused': 'Verbindung abgelehnt',
  'host name not found': 'Hostname nicht gefunden',
  'host unreachable': 'Host nicht erreichbar',
};

const or = (map: Record<string, string>, key: string) => map[key] ?? key;
/** A value in German quotation marks (the value itself verbatim). */
const q = (value: string) => `„${value}“`;
const plural = (n: string, one: string, many: string) => (n === '1' ? one : many);
/** A value list "A", "B" (CSV columns) with German quotes. */
const quotedList = (list: string) => list.replace(/"([^"]*)"/g, '„$1“');

const rules: Rule[] = [
  // --- composites: a prefix or wrapper around another message
  [/^(connect|tls|login|folder|fetch|send): ([\s\S]+)$/, (_, step, rest) => `${STEP[step!]}: ${de(rest!)}`],
  [/^line (\d+): ([\s\S]+)$/, (_, n, rest) => `Zeile ${n}: ${de(rest!)}`],

  // --- general input checks (validate.ts, compose.ts, errors.ts, …)
  [/^"(.*)" is not an e-mail address$/, (_, v) => `${q(v!)} ist keine E-Mail-Adresse`],
  [/^"(.*)" is not a channel; use one of: (.*)$/, (_, v, list) => `${q(v!)} ist kein Kanal; möglich sind: ${list}`],
  [/^"(.*)" is not one of: (.*)$/, (_, v, list) => `${q(v!)} ist keiner der möglichen Werte: ${list}`],
  [/^"(.*)" is not a date \(YYYY-MM-DD\)$/, (_, v) => `${q(v!)} ist kein Datum (JJJJ-MM-TT)`],
  [/^"(.*)" is not a positive whole number$/, (_, v) => `${q(v!)} ist keine positive ganze Zahl`],
  [/^must have at least (\d+) characters$/, (_, n) => `muss mindestens ${n} Zeichen lang sein`],
  [/^must be one line$/, () => 'darf keinen Zeilenumbruch enthalten'],
  [/^must not be empty$/, () => 'darf nicht leer sein'],
  [/^must not contain a line break \(CR or LF\)$/, () => 'darf keinen Zeilenumbruch enthalten (CR oder LF)'],
  [/^is required$/, () => 'ist erforderlich'],
  [/^is not base64$/, () => 'ist kein Base64'],
  [/^expected (.*)$/, (whole, what) => (EXPECTED[what!] ? `erwartet: ${EXPECTED[what!]}` : whole!)],
  [/^"(.*)" has no e-mail address$/, (_, v) => `${q(v!)} hat keine E-Mail-Adresse`],
  [/^"(.*):" makes a group of the addresses after it \(RFC 5322 group syntax\), which is not accepted; separate addresses with commas$/, (_, v) => `${q(`${v}:`)} macht aus den folgenden Adressen eine Gruppe (RFC 5322), das ist hier nicht möglich; trennen Sie Adressen mit Kommas`],
  [/^"(.*)" stands where a name belongs \(before <(.*)>\); separate addresses with commas, or put the name in quotes$/, (_, v, a) => `${q(v!)} steht an der Stelle eines Namens (vor <${a}>); trennen Sie Adressen mit Kommas oder setzen Sie den Namen in Anführungszeichen`],
  [/^at least one address is required$/, () => 'Mindestens eine Adresse ist erforderlich'],
  [/^at least one recipient is required$/, () => 'Mindestens eine Empfänger*in ist erforderlich'],
  [/^this (.*) is already taken \(someone saved the same value at the same moment\)$/, (_, f) => `Dieser Wert (${f}) ist bereits vergeben (jemand hat im selben Moment denselben Wert gespeichert)`],

  // --- staff, logins, mappings (staff.ts, staff-lifecycle.ts, tokens.ts, claims.ts, task-actions.ts)
  [/^"(.*)" is not a login name \(letters, digits, \. _ @ \\ -, at most 64\)$/, (_, v) => `${q(v!)} ist kein gültiger Anmeldename (Buchstaben, Ziffern, . _ @ \\ -, höchstens 64 Zeichen)`],
  [/^the login "(.*)" is taken$/, (_, v) => `Der Anmeldename ${q(v!)} ist bereits vergeben`],
  [/^a name is required \("Nachname, Vorname"\)$/, () => 'Ein Name ist erforderlich („Nachname, Vorname“)'],
  [/^a name has at most (\d+) characters$/, (_, n) => `Ein Name hat höchstens ${n} Zeichen`],
  [/^a name may not contain line breaks or other control characters$/, () => 'Ein Name darf keine Zeilenumbrüche oder anderen Steuerzeichen enthalten'],
  [/^(.*) already belongs to the active staff record "(.*)"$/, (_, e, n) => `${e} gehört bereits zur aktiven Mitarbeiter*in ${q(n!)}`],
  [/^an external person has no login \(no licence\); remove the login \(login: null\)$/, () => 'Eine externe Person hat keinen Anmeldenamen (keine Lizenz); entfernen Sie den Anmeldenamen'],
  [/^an external person has no login \(no licence\)$/, () => 'Eine externe Person hat keinen Anmeldenamen (keine Lizenz)'],
  [/^"(.*)" is not a role; use admin or staff$/, (_, v) => `${q(v!)} ist keine Rolle; möglich sind admin (Administration) oder staff (Mitarbeiter*in)`],
  [/^an admin needs a login$/, () => 'Eine Administrator*in braucht einen Anmeldenamen'],
  [/^only staff with a login can take part in mail import$/, () => 'Nur Mitarbeiter*innen mit Anmeldenamen können am automatischen Einlesen von E-Mails teilnehmen'],
  [/^no staff member has the login or active e-mail "(.*)"$/, (_, v) => `Keine Mitarbeiter*in hat den Anmeldenamen oder die aktive E-Mail-Adresse ${q(v!)}`],
  [/^no staff member has the login "(.*)"$/, (_, v) => `Keine Mitarbeiter*in hat den Anmeldenamen ${q(v!)}`],
  [/^no staff member with id (.*)$/, (_, n) => `Es gibt keine Mitarbeiter*in mit der Nummer ${n}`],
  [/^no (staff member|activity type|mapping) has the id (.*)$/, (_, what, n) => `Es gibt ${THING[what!]} mit der Nummer ${n}`],
  [/^"(.*)" is not active$/, (_, n) => `${q(n!)} ist nicht aktiv`],
  [/^"(.*)" is already inactive$/, (_, n) => `${q(n!)} ist bereits inaktiv`],
  [/^"(.*)" has no login: only staff with a login receive tasks$/, (_, n) => `${q(n!)} hat keinen Anmeldenamen: Nur Mitarbeiter*innen mit Anmeldenamen erhalten Vorgänge`],
  [/^"(.*)" has no login to set a password for$/, (_, n) => `${q(n!)} hat keinen Anmeldenamen, für den ein Passwort gesetzt werden könnte`],
  [/^"(.*)" has no login$/, (_, n) => `${q(n!)} hat keinen Anmeldenamen`],
  [/^"(.*)" lacks the permission mail\.import \("E-Mails automatisch einlesen"\)$/, (_, n) => `${q(n!)} fehlt die Berechtigung „E-Mails automatisch einlesen“ (mail.import)`],
  [
    /^(.*) is not the e-mail address of an active staff record; add the sender first \(staff add, with --external for people without a login\)$/,
    (_, e) => `${e} ist keine E-Mail-Adresse einer aktuellen Mitarbeiter*in; legen Sie die Absender*in zuerst unter Mitarbeiter*innen an (extern, ohne Anmeldung)`,
  ],
  [/^(.*) is already mapped to "(.*)"$/, (_, e, n) => `${e} ist bereits ${q(n!)} zugeordnet`],
  [/^you cannot deactivate yourself$/, () => 'Sie können sich nicht selbst deaktivieren'],
  [/^you cannot take away your own admin role$/, () => 'Sie können sich die eigene Administrationsrolle nicht entziehen'],
  [/^a password needs a login name$/, () => 'Ein Passwort braucht einen Anmeldenamen'],
  [
    /^(.*) is not mapped to any active staff member with the permission mail\.import; add a mapping first$/,
    (_, e) => `${e} ist keiner aktiven Mitarbeiter*in mit der Berechtigung „E-Mails automatisch einlesen“ zugeordnet; legen Sie zuerst unter „E-Mail-Adressen verwalten“ eine Zuordnung an`,
  ],
  [/^a token named "(.*)" exists$/, (_, v) => `Ein Token namens ${q(v!)} gibt es bereits`],
  [/^no token named "(.*)"$/, (_, v) => `Es gibt kein Token namens ${q(v!)}`],
  [/^"(.*)" is not a device name \(letters, digits, \. _ @ \\ -, at most 64\)$/, (_, v) => `${q(v!)} ist kein gültiger Gerätename (Buchstaben, Ziffern, . _ @ \\ -, höchstens 64 Zeichen)`],
  [/^a device named "(.*)" exists$/, (_, v) => `Ein Gerät namens ${q(v!)} gibt es bereits`],
  [/^no device named "(.*)"$/, (_, v) => `Es gibt kein Gerät namens ${q(v!)}`],

  // --- tasks (task-actions.ts, task-list.ts, messages.ts)
  [/^no task with id (.*)$/, (_, n) => `Es gibt keinen Vorgang ${n}`],
  [/^only the assignee or an admin may (complete|reopen|forward) task (.*)$/, (_, a, n) => `Nur die zuständige Mitarbeiter*in oder die Administration darf Vorgang ${n} ${ACTION[a!]}`],
  [/^only an admin may assign tasks by hand$/, () => 'Nur die Administration darf Vorgänge von Hand zuweisen'],
  [/^only admins may do this$/, () => 'Das darf nur die Administration'],
  [/^task (.*) is already completed$/, (_, n) => `Vorgang ${n} ist bereits erledigt`],
  [/^task (.*) has been taken by someone else meanwhile$/, (_, n) => `Vorgang ${n} hat inzwischen jemand anderes übernommen`],
  [/^task (.*) is not open \(status (.*)\)$/, (_, n, s) => `Vorgang ${n} ist nicht offen (Status ${q(or(TASK_STATUS, s!))})`],
  [/^task (.*) is not completed \(status (.*)\)$/, (_, n, s) => `Vorgang ${n} ist nicht erledigt (Status ${q(or(TASK_STATUS, s!))})`],
  [/^task (.*) is completed; reopen it first$/, (_, n) => `Vorgang ${n} ist erledigt; öffnen Sie ihn zuerst wieder`],
  [/^task (.*) is in the unassigned queue; an admin assigns it \(assign\)$/, (_, n) => `Vorgang ${n} ist in „Nicht zugeordnet“; die Administration weist ihn zu`],
  [/^task (.*) is already assigned to "(.*)"$/, (_, n, p) => `Vorgang ${n} ist bereits ${q(p!)} zugewiesen`],
  [/^task (.*) is not in the unassigned queue \(status (.*)\); forward it instead$/, (_, n, s) => `Vorgang ${n} ist nicht in „Nicht zugeordnet“ (Status ${q(or(TASK_STATUS, s!))}); leiten Sie ihn stattdessen weiter`],
  [/^"(.*)" is not a parameter of the task list$/, (_, v) => `${q(v!)} ist kein Filter der Vorgangsliste`],
  [/^"(.*)" is not a date \(YYYY-MM-DD\) or a date-time with a zone \((.*)\)$/, (_, v, ex) => `${q(v!)} ist weder ein Datum (JJJJ-MM-TT) noch ein Zeitpunkt mit Zeitzone (${ex})`],
  [/^"(.*)" is not the status of an open task; use one of: (.*)$/, (_, v, list) => `${q(v!)} ist kein Status eines offenen Vorgangs; möglich sind: ${list}`],
  [/^"(.*)" is not a whole number of days$/, (_, v) => `${q(v!)} ist keine ganze Zahl von Tagen`],
  [/^at least (\d+) days?$/, (_, n) => `mindestens ${n} ${plural(n!, 'Tag', 'Tage')}`],
  [/^at most (\d+) days?$/, (_, n) => `höchstens ${n} ${plural(n!, 'Tag', 'Tage')}`],
  [/^at least (\d+)$/, (_, n) => `mindestens ${n}`],
  [/^at most (\d+)$/, (_, n) => `höchstens ${n}`],
  [/^"(.*)" is not a sort column; use one of: (.*)$/, (_, v, list) => `${q(v!)} ist keine Sortierspalte; möglich sind: ${list}`],
  [/^"(.*)" is not an order; use asc or desc$/, (_, v) => `${q(v!)} ist keine Reihenfolge; möglich sind asc (aufsteigend) oder desc (absteigend)`],
  [/^"(.*)" is not true or false$/, (_, v) => `${q(v!)} ist weder true noch false`],
  [/^createdTo \((.*)\) is before createdFrom \((.*)\)$/, (_, to, from) => `Das Ende des Zeitraums (${to}) liegt vor seinem Anfang (${from})`],
  [/^no message with id (.*)$/, (_, n) => `Es gibt keine Nachricht ${n}`],
  [/^the raw bytes of message (.*) are missing$/, (_, n) => `Die Rohdaten der Nachricht ${n} fehlen`],
  [/^no attachment with id (.*)$/, (_, n) => `Es gibt keinen Anhang ${n}`],
  [/^the content of attachment (.*) is missing$/, (_, n) => `Der Inhalt des Anhangs ${n} fehlt`],

  // --- activity types, channel settings (activity-types.ts, settings.ts)
  [/^an activity type needs a name$/, () => 'Eine Tätigkeit braucht einen Namen'],
  [/^"(.*)" is longer than (\d+) characters$/, (_, v, n) => `${q(v!)} ist länger als ${n} Zeichen`],
  [/^an activity type name cannot contain control characters$/, () => 'Der Name einer Tätigkeit darf keine Steuerzeichen enthalten'],
  [/^an activity type named "(.*)" exists$/, (_, v) => `Eine Tätigkeit namens ${q(v!)} gibt es bereits`],
  [/^no activity type is named "(.*)"$/, (_, v) => `Es gibt keine Tätigkeit namens ${q(v!)}`],
  [/^"(.*)" is not a whole number of minutes between 1 and 1440$/, (_, v) => `${q(v!)} ist keine ganze Zahl von Minuten zwischen 1 und 1440`],
  [
    /^nothing to change: give activityType, autoImport, pollIntervalMinutes or autoComplete$/,
    () => 'Nichts zu ändern: Geben Sie die Tätigkeit, das automatische Einlesen, den Abrufabstand oder das automatische Erledigen an',
  ],
  [/^there is no channel (.*); use general or scanner$/, (_, v) => `Es gibt keinen Kanal ${q(v!)}; möglich sind general oder scanner`],

  // --- inbound addresses, mailbox settings (addresses.ts, mailboxes.ts, ca-file.ts)
  [/^(.*) is already an inbound address of channel (.*)$/, (_, a, ch) => `${a} ist bereits eine Empfangsadresse des Kanals ${or(CHANNEL, ch!)}`],
  [/^(.*) is not an inbound address of this channel$/, (_, a) => `${a} ist keine Empfangsadresse dieses Kanals`],
  [/^(.*) is not an inbound address$/, (_, a) => `${a} ist keine Empfangsadresse`],
  [/^"(.*)" is not an after-import action for POP3; use delete or keep$/, (_, v) => `${q(v!)} ist keine Aktion nach dem Einlesen für POP3; möglich sind delete oder keep`],
  [/^"(.*)" is not an after-import action for IMAP; use seen, move:<folder>, delete or keep$/, (_, v) => `${q(v!)} ist keine Aktion nach dem Einlesen für IMAP; möglich sind seen, move:<Ordner>, delete oder keep`],
  [/^a new mailbox needs a protocol: imap or pop3$/, () => 'Ein neues Postfach braucht ein Protokoll: imap oder pop3'],
  [/^"(.*)" is not imap or pop3$/, (_, v) => `${q(v!)} ist weder imap noch pop3`],
  [/^"(.*)" is not tls, starttls or none$/, (_, v) => `${q(v!)} ist weder tls noch starttls noch none`],
  [/^a host name or address is required$/, () => 'Ein Hostname oder eine IP-Adresse ist erforderlich'],
  [/^"(.*)" is not a host name or IP address$/, (_, v) => `${q(v!)} ist weder ein Hostname noch eine IP-Adresse`],
  [/^"(.*)" contains a port: give the host \((.*)\) here and the port \((\d+)\) in the port field$/, (_, v, h, p) => `${q(v!)} enthält einen Port: tragen Sie hier den Host (${h}) und den Port (${p}) im Feld Port ein`],
  [/^a (user name|password) is only used with authentication plain or login; choose one \(auth\) or leave it out$/, (_, w) => `${w === 'password' ? 'Ein Passwort' : 'Ein Benutzername'} wird nur mit der Anmeldung PLAIN oder LOGIN verwendet; wählen Sie eine Anmeldeart oder lassen Sie ${w === 'password' ? 'es' : 'ihn'} weg`],
  [/^"(.*)" is not a port \(1–65535\)$/, (_, v) => `${q(v!)} ist kein Port (1–65535)`],
  [/^a user name is required$/, () => 'Ein Benutzername ist erforderlich'],
  [/^a new mailbox needs a password$/, () => 'Ein neues Postfach braucht ein Passwort'],
  [
    /^POP3 has no folders: the server hands out the one mailbox of the user; leave the folder out$/,
    () => 'POP3 kennt keine Ordner: Der Server liefert das eine Postfach des Benutzers; lassen Sie den Ordner leer',
  ],
  [
    /^"(.*)" moves each message into the folder being polled \((.*)\), so it would be read again and again; choose another folder$/,
    (_, a, f) => `${q(a!)} verschiebt jede Nachricht in den Ordner, der abgerufen wird (${f}); sie würde immer wieder eingelesen. Wählen Sie einen anderen Ordner`,
  ],
  [/^channel (.*) has no mailbox; set one with: mailbox set .*$/, (_, ch) => `Der Kanal ${or(CHANNEL, ch!)} hat kein Postfach; richten Sie es unter Einstellungen ein`],
  [/^(.*) does not exist$/, (_, f) => `Die Datei ${f} gibt es nicht`],
  [/^(.*) is not a PEM certificate$/, (_, f) => `Die Datei ${f} ist kein PEM-Zertifikat`],

  // --- SMTP account and outbox (smtp-account.ts, outbox.ts)
  [/^authentication (.*) needs a user name$/, (_, a) => `Die Authentifizierung ${a} braucht einen Benutzernamen`],
  [/^authentication (.*) needs a password \(--password-stdin\)$/, (_, a) => `Die Authentifizierung ${a} braucht ein Passwort`],
  [/^a sender address is required$/, () => 'Eine Absenderadresse ist erforderlich'],
  [/^exactly one sender address is required$/, () => 'Es ist genau eine Absenderadresse erforderlich'],
  [/^no SMTP account is set; set one with: smtp set .*$/, () => 'Es ist kein Versandkonto eingerichtet; richten Sie es unter Einstellungen → Versand ein'],
  [/^the CA file (.*) cannot be read \((.*)\); set it again with --ca-file$/, (_, f, code) => `Die CA-Datei ${f} kann nicht gelesen werden (${code}); geben Sie sie in den Einstellungen erneut an`],
  [/^"(.*)" is not a content type such as application\/pdf$/, (_, v) => `${q(v!)} ist kein Inhaltstyp wie application/pdf`],
  [/^the message would be (\d+) bytes, more than SMTP_MAX_MESSAGE_BYTES \((\d+)\)$/, (_, n, max) => `Die Nachricht wäre ${n} Bytes groß, mehr als SMTP_MAX_MESSAGE_BYTES (${max})`],
  [/^the message of task (.*) is missing$/, (_, n) => `Die Nachricht zu Vorgang ${n} fehlt`],
  [
    /^no automatic reply to message (.*): it is (.*) mail \(RFC 3834\); a person may still reply$/,
    (_, n, kind) => `Keine automatische Antwort auf Nachricht ${n}: Sie ist eine automatisch erzeugte Nachricht (${kind}, RFC 3834); eine Person kann trotzdem antworten`,
  ],
  [/^message (.*) has no sender address to reply to$/, (_, n) => `Nachricht ${n} hat keine Absenderadresse, an die geantwortet werden kann`],
  [/^no outbox message with id (.*)$/, (_, n) => `Es gibt keine Nachricht ${n} im Postausgang`],
  [/^message (.*) is (.*); only failed messages can be retried$/, (_, n, s) => `Nachricht ${n} ist ${q(or(OUTBOX_STATE, s!))}; nur fehlgeschlagene Nachrichten können erneut versucht werden`],
  [/^"(.*)" is not a message number$/, (_, v) => `${q(v!)} ist keine Nachrichtennummer`],
  [/^the stored message (.*) is missing$/, (_, h) => `Die gespeicherte Nachricht ${h} fehlt`],

  // --- CSV import (csv-import.ts)
  [/^"(.*)" is not an encoding; use one of: (.*)$/, (_, v, list) => `${q(v!)} ist keine Zeichenkodierung; möglich sind: ${list}`],
  [
    /^the file is not valid UTF-8 \(line (\d+)\); a German Excel export is Windows-1252: use --encoding windows-1252 or auto$/,
    (_, n) => `Die Datei ist kein gültiges UTF-8 (Zeile ${n}); ein deutscher Excel-Export ist Windows-1252: Wählen Sie die Kodierung windows-1252 oder auto`,
  ],
  [/^the file is empty: expected a header line and rows$/, () => 'Die Datei ist leer: Erwartet werden eine Kopfzeile und Datenzeilen'],
  [/^unknown column "(.*)"; the columns are: (.*)$/, (_, v, list) => `unbekannte Spalte ${q(v!)}; die Spalten sind: ${list}`],
  [/^the column "(.*)" appears twice$/, (_, v) => `Die Spalte ${q(v!)} kommt zweimal vor`],
  [/^missing columns? (.*)$/, (whole, list) => (whole!.startsWith('missing columns') ? `Es fehlen die Spalten ${quotedList(list!)}` : `Es fehlt die Spalte ${quotedList(list!)}`)],
  [/^"(.*)" is not yes or no \(ja\/nein, yes\/no, wahr\/falsch, 1\/0, x or empty\)$/, (_, v) => `${q(v!)} ist weder ja noch nein (ja/nein, yes/no, wahr/falsch, 1/0, x oder leer)`],

  // --- mailbox connection test and poll errors (src/inbound/mailbox/connection.ts, imap/*, pop3/*)
  [/^connection refused: nothing listens on that host and port$/, () => 'Verbindung abgelehnt: Auf diesem Host und Port nimmt niemand Verbindungen an'],
  [/^host name not found \(DNS\)$/, () => 'Hostname nicht gefunden (DNS)'],
  [/^host unreachable$/, () => 'Host nicht erreichbar'],
  [/^timeout: the server did not answer in time$/, () => 'Zeitüberschreitung: Der Server hat nicht rechtzeitig geantwortet'],
  [
    /^TLS: the server's certificate is not trusted \((.*)\); give the CA file of your intranet CA$/,
    (_, why) => `TLS: Dem Zertifikat des Servers wird nicht vertraut (${why}); geben Sie die CA-Datei Ihrer Intranet-CA an`,
  ],
  [
    /^TLS handshake failed \((.*)\); check the port and security mode, or allow TLS 1\.0\/1\.1 for an old server$/,
    (_, why) => `TLS-Handshake fehlgeschlagen (${why}); prüfen Sie Port und Verschlüsselung oder erlauben Sie TLS 1.0/1.1 für einen alten Server`,
  ],
  [/^login failed: user name or password wrong \(the server said: ([\s\S]*)\)$/, (_, said) => `Anmeldung fehlgeschlagen: Benutzername oder Passwort falsch (der Server sagte: ${said})`],
  [/^login failed: user name or password wrong$/, () => 'Anmeldung fehlgeschlagen: Benutzername oder Passwort falsch'],
  [/^folder missing on the server$/, () => 'Der Ordner fehlt auf dem Server'],
  [/^the server closed the connection$/, () => 'Der Server hat die Verbindung geschlossen'],
  [/^the connection was closed$/, () => 'Die Verbindung wurde geschlossen'],
  [/^unknown error$/, () => 'unbekannter Fehler'],
  // src/db/errors.ts: the database's own words and SQLSTATE stay as they are
  [/^database error: ([\s\S]*)$/, (_, words) => `Datenbankfehler: ${words}`],
  [
    /^the server does not offer STARTTLS: refusing to send the password in cleartext; use security tls, or none only inside a trusted network$/,
    () => 'Der Server bietet kein STARTTLS an: Das Passwort wird nicht unverschlüsselt gesendet. Wählen Sie TLS, oder „keine“ nur in einem vertrauenswürdigen Netz',
  ],
  [
    /^STARTTLS failed: the server sent data before the TLS handshake \(possible attack\)$/,
    () => 'STARTTLS fehlgeschlagen: Der Server hat vor dem TLS-Handshake Daten gesendet (möglicher Angriff)',
  ],
  [
    /^the server refuses logins over this connection \(LOGINDISABLED\): use security tls or starttls$/,
    () => 'Der Server verweigert Anmeldungen über diese Verbindung (LOGINDISABLED): Wählen Sie TLS oder STARTTLS',
  ],
  [/^the server refused (UID SEARCH|STATUS)$/, (_, cmd) => `Der Server hat ${cmd} abgelehnt`],
  [/^the server returned no data for the newest message$/, () => 'Der Server hat zur neuesten Nachricht keine Daten geliefert'],
  [/^the mailbox is in use by another client \(the server said: ([\s\S]*)\)$/, (_, said) => `Das Postfach wird gerade von einem anderen Programm benutzt (der Server sagte: ${said})`],
  [/^the server allows no new login yet \(LOGIN-DELAY\) \(the server said: ([\s\S]*)\)$/, (_, said) => `Der Server erlaubt noch keine neue Anmeldung (LOGIN-DELAY) (der Server sagte: ${said})`],
  [/^the server failed to open the mailbox \(the server said: ([\s\S]*)\)$/, (_, said) => `Der Server konnte das Postfach nicht öffnen (der Server sagte: ${said})`],
  [
    /^the server refuses a login without TLS; use security starttls or tls \(the server said: ([\s\S]*)\)$/,
    (_, said) => `Der Server verweigert die Anmeldung ohne TLS; wählen Sie STARTTLS oder TLS (der Server sagte: ${said})`,
  ],
  [/^the server refused the connection \(it said: ([\s\S]*)\)$/, (_, said) => `Der Server hat die Verbindung abgelehnt (er sagte: ${said})`],
  [
    /^no greeting from the server \(timeout\): is this a TLS port\? check the port and the security mode$/,
    () => 'Keine Begrüßung vom Server (Zeitüberschreitung): Ist das ein TLS-Port? Prüfen Sie Port und Verschlüsselung',
  ],
  [/^the server does not offer STARTTLS \(STLS answered: ([\s\S]*)\)$/, (_, said) => `Der Server bietet kein STARTTLS an (Antwort auf STLS: ${said})`],
  [/^the server cannot open the mailbox \(STAT: ([\s\S]*)\)$/, (_, said) => `Der Server kann das Postfach nicht öffnen (STAT: ${said})`],
  [/^the server refused: ([\s\S]*)$/, (_, said) => `Der Server hat abgelehnt: ${said}`],
  [/^the user name or password contains a line break$/, () => 'Benutzername oder Passwort enthält einen Zeilenumbruch'],
  [/^the server sent data before the TLS handshake$/, () => 'Der Server hat vor dem TLS-Handshake Daten gesendet'],
  [/^the server sent data nobody asked for$/, () => 'Der Server hat unaufgefordert Daten gesendet'],
  [/^the server sent a status line longer than 8 KiB$/, () => 'Der Server hat eine Statuszeile länger als 8 KiB gesendet'],
  [/^unexpected answer to ([A-Z]+): ([\s\S]*)$/, (_, cmd, said) => `Unerwartete Antwort auf ${cmd}: ${said}`],
  // imapflow's own words when the server stays silent after connecting
  [
    /^Failed to receive greeting from server in required time\. Maybe should use TLS\?$/,
    () => 'Keine Begrüßung vom Server in der vorgesehenen Zeit: Ist das ein TLS-Port? Prüfen Sie Port und Verschlüsselung',
  ],
  [/^Failed to receive greeting from server in required time$/, () => 'Keine Begrüßung vom Server in der vorgesehenen Zeit'],

  // --- mailbox test steps that succeeded
  [/^(.*) answered$/, (_, where) => `${where} hat geantwortet`],
  [/^connected to (.*)$/, (_, where) => `verbunden mit ${where}`],
  [/^no TLS \(security none\): the password travels in cleartext$/, () => 'kein TLS (Verschlüsselung „keine“): Das Passwort wird unverschlüsselt übertragen'],
  [/^no TLS \(security none\): the password crosses the network unencrypted$/, () => 'kein TLS (Verschlüsselung „keine“): Das Passwort geht unverschlüsselt über das Netz'],
  [/^no TLS \(security none\)$/, () => 'kein TLS (Verschlüsselung „keine“)'],
  [/^(STARTTLS|TLS) established( \(.*\))?, certificate verified$/, (_, kind, details) => `${kind} aufgebaut${details ?? ''}, Zertifikat geprüft`],
  [/^implicit TLS \((.*)\), certificate verified$/, (_, v) => `implizites TLS (${v}), Zertifikat geprüft`],
  [/^STARTTLS \((.*)\), certificate verified$/, (_, v) => `STARTTLS (${v}), Zertifikat geprüft`],
  [/^logged in as (.*) \((PLAIN|LOGIN)\)$/, (_, u, how) => `angemeldet als ${u} (${how})`],
  [/^logged in as (.*)$/, (_, u) => `angemeldet als ${u}`],
  [/^([\s\S]*): (\d+) messages, UIDVALIDITY (\d+)$/, (_, f, n, v) => `${f}: ${n} ${plural(n!, 'Nachricht', 'Nachrichten')}, UIDVALIDITY ${v}`],
  [/^the folder is empty; STATUS works$/, () => 'Der Ordner ist leer; STATUS funktioniert'],
  [/^newest message: UID (\d+), (.*) bytes$/, (_, uid, size) => `neueste Nachricht: UID ${uid}, ${size} Bytes`],
  [/^(\d+) message\(s\), (\d+) bytes$/, (_, n, size) => `${n} ${plural(n!, 'Nachricht', 'Nachrichten')}, ${size} Bytes`],
  [/^UIDL lists (\d+) message\(s\)(.*)$/, (_, n, header) => `UIDL listet ${n} ${plural(n!, 'Nachricht', 'Nachrichten')}${pop3Header(header!)}`],
  [
    /^the server has no UIDL \(messages are deduplicated by content\); LIST lists (\d+) message\(s\)(.*)$/,
    (_, n, header) => `Der Server kennt kein UIDL (Nachrichten werden am Inhalt wiedererkannt); LIST listet ${n} ${plural(n!, 'Nachricht', 'Nachrichten')}${pop3Header(header!)}`,
  ],

  // --- SMTP test mail and outbox delivery (src/outbound/transport.ts)
  [/^no answer from (.*) in time \((connect|tls|login|send)\)$/, (_, where, step) => `keine Antwort von ${where} in der vorgesehenen Zeit (Schritt „${STEP[step!]}“)`],
  [
    /^no answer from (.*) in time \((connect|tls|login|send)\); the server sent no greeting: if this is an implicit-TLS port \(465\), choose security TLS$/,
    (_, where, step) => `keine Antwort von ${where} in der vorgesehenen Zeit (Schritt „${STEP[step!]}“); der Server hat sich nicht gemeldet: Ist das ein Port für implizites TLS (465), wählen Sie die Verschlüsselung TLS`,
  ],
  [/^cannot connect to ([^ ]*): ([\s\S]*)$/, (_, where, why) => `Verbindung zu ${where} nicht möglich: ${or(SMTP_CONNECT, why!)}`],
  [/^TLS with ([^ ]*) failed: ([\s\S]*)$/, (_, where, why) => `TLS mit ${where} fehlgeschlagen: ${or(SMTP_TLS, why!)}`],
  [/^the server refused the login: ([\s\S]*)$/, (_, said) => `Der Server hat die Anmeldung abgelehnt: ${said}`],
  [/^the server refused the login \(([\s\S]*)\)$/, (_, said) => `Der Server hat die Anmeldung abgelehnt (${said})`],
  [/^the server deferred the message: ([\s\S]*)$/, (_, said) => `Der Server hat die Nachricht vorläufig abgewiesen: ${said}`],
  [/^the server refused the message: ([\s\S]*)$/, (_, said) => `Der Server hat die Nachricht abgelehnt: ${said}`],
  [/^sending failed: ([\s\S]*)$/, (_, said) => `Senden fehlgeschlagen: ${said}`],
  [/^sending was interrupted \(gateway stopping\)$/, () => 'Das Senden wurde unterbrochen (das Gateway wird beendet)'],
  [/^skipped: security none \(unencrypted\)$/, () => 'übersprungen: Verschlüsselung „keine“ (unverschlüsselt)'],
  [/^skipped: no authentication$/, () => 'übersprungen: keine Authentifizierung'],
  [/^implicit TLS, (.*)$/, (_, v) => `implizites TLS, ${v}`],
  [/^accepted: ([\s\S]*)$/, (_, said) => `angenommen: ${said}`],
];

/** The suffix the POP3 test adds after the message count (src/inbound/pop3/adapter.ts). */
function pop3Header(suffix: string): string {
  if (suffix === '; the header of message 1 was read') return '; der Kopf von Nachricht 1 wurde gelesen';
  if (suffix === '; the server has no TOP (import-since cannot be applied)') return '; der Server kennt kein TOP („Einlesen ab“ kann nicht angewandt werden)';
  return suffix;
}

/** German for one message; the message itself when no rule knows it. */
/** The first rule matching the whole message renders it; none → the message unchanged. */
function rewrite(list: Rule[], message: string): string {
  for (const [pattern, render] of list) {
    const m = pattern.exec(message);
    if (m) return render(...m.map((g) => g ?? ''));
  }
  return message;
}

function de(message: string): string {
  return rewrite(rules, message);
}

/**
 * A service's English refusal or step detail (ValidationError / NotFoundError / ForbiddenError
 * message, a mailbox or SMTP test step's `detail`, a mailbox's stored last error) in the admin's
 * language.
 * @param message the text exactly as the service produced it
 * @param lang the page's language; `en` returns `message` unchanged
 * @returns German text for every message the services are known to produce, values (addresses,
 *   names, hosts, server replies, OpenSSL words) kept verbatim; an unknown message unchanged
 *   (English), so the reason is never lost. Never throws.
 */
export function localizeRefusal(message: string, lang: Language): string {
  if (typeof message !== 'string') return message;
  if (lang !== 'de') return webWording(message);
  return de(message);
}

/** English messages that give CLI advice, in the admin's words (the CLI and the API keep the originals). */
const WEB_EN: Rule[] = [
  [/^(.*) is not the e-mail address of an active staff record; add the sender first \(staff add, with --external for people without a login\)$/, (_, e) => `${e} is not the e-mail address of an active staff record; add the sender first under Staff (as an external person if without a login)`],
  [/^no SMTP account is set; set one with: smtp set .*$/, () => 'No SMTP account is set; set one up under Settings → Sending'],
  [/^authentication (.*) needs a password \(--password-stdin\)$/, (_, a) => `authentication ${a} needs a password`],
  [/^the CA file (.*) cannot be read \((.*)\); set it again with --ca-file$/, (_, f, why) => `the CA file ${f} cannot be read (${why}); enter it again`],
];

/** An English message with CLI advice rewritten for the browser; any other unchanged. */
const webWording = (message: string) => rewrite(WEB_EN, message);
