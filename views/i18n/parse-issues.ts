import type { ParseIssue, ParseIssueCode } from '../../src/ingest/parse.js';
import type { Language } from './index.js';

type Params = NonNullable<ParseIssue['params']>;
type Catalogue = { [K in ParseIssueCode]: (p: Params) => string } & { field(name: string): string; heading: string; incomplete: string };

const num = (p: Params, k: string) => Number(p[k] ?? 0);
const list = (p: Params, k: string) => (Array.isArray(p[k]) ? (p[k] as string[]) : []);

/** Where a stored field came from, for `text-characters-removed` (paths from db/storable.ts). */
function fieldLabel(names: Record<string, string>, attachment: (n: number) => string, envelope: string) {
  return (path: string): string => {
    const m = /^attachments\.(\d+)\./.exec(path);
    if (m) return attachment(Number(m[1]) + 1);
    if (path.startsWith('source.')) return envelope;
    return names[path] ?? path;
  };
}

const de: Catalogue = {
  heading: 'Hinweise zum Einlesen',
  incomplete: 'Nicht alles aus dieser Nachricht konnte in die Anzeige übernommen werden. Maßgeblich ist die Originalnachricht (.eml), die unverändert gespeichert ist.',
  field: fieldLabel({ subject: 'Betreff', senderName: 'Absendername', senderAddress: 'Absenderadresse', messageIdHeader: 'Message-ID', text: 'Text', html: 'HTML-Text', parseError: 'Fehlermeldung' }, (n) => `Anhang ${n}`, 'Umschlag'),
  'text-characters-removed': (p) => `Zeichen, die die Datenbank nicht speichern kann (NUL), wurden entfernt aus: ${[...new Set(list(p, 'fields').map((f) => de.field(f)))].join(', ')}.`,
  'multipart-without-parts': () => 'Die MIME-Grenze (boundary) kommt in der Nachricht nicht vor; ihr Inhalt wird als Text gezeigt.',
  'multipart-unclosed': () => 'Der Abschluss eines MIME-Teils fehlt; der letzte Teil kann unvollständig sein.',
  'header-charset-fallback': () => 'Kopfzeilen mit unkodierten Sonderzeichen wurden als Windows-1252 gelesen.',
  'utf7-decoded': () => 'Ein UTF-7-kodierter Kopfeintrag wurde entschlüsselt.',
  'digest-part-typed': () => 'Die Teile einer Sammelnachricht (multipart/digest) sind als angehängte Nachrichten übernommen.',
  'cr-line-ends': () => 'Die Zeilenenden bestehen nur aus CR (alte Mac-Mail); sie wurden als Zeilenenden gelesen.',
  'bom-skipped': () => 'Eine Byte-Order-Mark vor dem Kopf wurde übersprungen.',
  'leading-blank-lines': () => 'Leerzeilen vor dem Kopf wurden übersprungen.',
  'uuencode-decoded': (p) => `Anhang ${num(p, 'position')} war uuencodiert und wurde entschlüsselt.`,
  'uuencode-invalid': (p) => `Anhang ${num(p, 'position')} sollte uuencodiert sein, ist es aber nicht; er ist als application/octet-stream gespeichert.`,
  'tnef-unpacked': (p) => `Die Outlook-Datei winmail.dat (Anhang ${num(p, 'position')}) wurde entpackt: ${num(p, 'files')} Datei(en); das Original bleibt angehängt.`,
  'tnef-unreadable': (p) => `Die Outlook-Datei winmail.dat (Anhang ${num(p, 'position')}) konnte nicht entpackt werden; sie ist unverändert angehängt.`,
  'sender-name-holds-address': (p) => `Der Anzeigename des Absenders enthielt eine andere Adresse; zugeordnet ist nach der tatsächlichen Absenderadresse ${String(p.address ?? '')}.`,
  'mime-structure-unreadable': (p) => `Der Aufbau der Nachricht (MIME) konnte nicht gelesen werden (${String(p.reason ?? '')}); übernommen sind nur die Kopfangaben, Text und Anhänge stehen in der Originalnachricht.`,
  'date-out-of-range': () => 'Das Datum im Kopf liegt außerhalb der Jahre 1–9999; gezeigt wird der Eingangszeitpunkt.',
  'body-truncated': (p) => `Der aus der fehlerhaften Struktur übernommene Text endet nach ${new Intl.NumberFormat('de-DE').format(num(p, 'bytes'))} Bytes; die Originalnachricht enthält alles.`,
};

const en: Catalogue = {
  heading: 'Notes on reading this message',
  incomplete: 'Not everything of this message could be taken over into this view. The original message (.eml), stored unchanged, is authoritative.',
  field: fieldLabel({ subject: 'subject', senderName: 'sender name', senderAddress: 'sender address', messageIdHeader: 'Message-ID', text: 'text', html: 'HTML text', parseError: 'error message' }, (n) => `attachment ${n}`, 'envelope'),
  'text-characters-removed': (p) => `Characters the database cannot store (NUL) were removed from: ${[...new Set(list(p, 'fields').map((f) => en.field(f)))].join(', ')}.`,
  'multipart-without-parts': () => 'The MIME boundary never appears in the message; its content is shown as text.',
  'multipart-unclosed': () => 'A MIME part is not closed; its last part may be incomplete.',
  'header-charset-fallback': () => 'Header fields with unencoded special characters were read as Windows-1252.',
  'utf7-decoded': () => 'A UTF-7 encoded header was decoded.',
  'digest-part-typed': () => 'The parts of a digest (multipart/digest) are attached messages.',
  'cr-line-ends': () => 'The lines end in CR only (old Mac mail); they were read as line ends.',
  'bom-skipped': () => 'A byte order mark before the header was skipped.',
  'leading-blank-lines': () => 'Blank lines before the header were skipped.',
  'uuencode-decoded': (p) => `Attachment ${num(p, 'position')} was uuencoded and has been decoded.`,
  'uuencode-invalid': (p) => `Attachment ${num(p, 'position')} claims to be uuencoded but is not; it is stored as application/octet-stream.`,
  'tnef-unpacked': (p) => `The Outlook file winmail.dat (attachment ${num(p, 'position')}) was unpacked: ${num(p, 'files')} file(s); the original stays attached.`,
  'tnef-unreadable': (p) => `The Outlook file winmail.dat (attachment ${num(p, 'position')}) could not be unpacked; it is attached unchanged.`,
  'sender-name-holds-address': (p) => `The sender's display name held another address; the message is routed by the actual sender address ${String(p.address ?? '')}.`,
  'mime-structure-unreadable': (p) => `The structure of the message (MIME) could not be read (${String(p.reason ?? '')}); only the header was taken over, text and attachments are in the original message.`,
  'date-out-of-range': () => 'The Date header lies outside the years 1–9999; the time of receipt is shown.',
  'body-truncated': (p) => `The text taken from the broken structure ends after ${num(p, 'bytes')} bytes; the original message holds all of it.`,
};

const catalogues: Record<Language, Catalogue> = { de, en };

/**
 * The words for what the parse adapted or lost (ingest/parse.ts ParseIssue), per language; an
 * unknown code (from a newer version) is shown as its code.
 */
export function parseIssueText(lang: Language, issue: ParseIssue): string {
  const c = catalogues[lang] ?? de;
  const say = (c as unknown as Record<string, ((p: Params) => string) | undefined>)[issue.code];
  return typeof say === 'function' ? say(issue.params ?? {}) : issue.code;
}

/** Heading and the "incomplete" warning of the parse notes, per language. */
export function parseIssueLabels(lang: Language): { heading: string; incomplete: string } {
  const c = catalogues[lang] ?? de;
  return { heading: c.heading, incomplete: c.incomplete };
}
