import { CsvError, parse } from 'csv-parse/sync';
import iconv from 'iconv-lite';
import type { Db } from '../db/client.js';
import type { StaffRow } from '../db/repositories/staff.js';
import { ValidationError } from './errors.js';
import { addMapping, addStaff, type NewStaff } from './staff.js';

/** Encodings a CSV file may be read in; `auto`: valid UTF-8 is UTF-8, anything else Windows-1252. */
export const CSV_ENCODINGS = ['utf-8', 'windows-1252', 'auto'] as const;
export type CsvEncoding = (typeof CSV_ENCODINGS)[number];

/** A decoded CSV file: its records with the line each starts on (1 = the header). */
export interface CsvTable {
  encoding: 'utf-8' | 'windows-1252';
  delimiter: ';' | ',';
  /** the header cells as written in the file */
  header: string[];
  records: { line: number; cells: string[] }[];
}

/** A row that was not imported: where, which column, why. */
export interface ImportRefusal {
  line: number;
  /** the column as headed in the file (or the rule's field name when no column applies) */
  column: string;
  reason: string;
}

/** What an import did. Nothing is committed when a row was refused, unless `skipInvalid`. */
export interface ImportReport<T> {
  encoding: 'utf-8' | 'windows-1252';
  delimiter: ';' | ',';
  /** data rows read (empty lines not counted) */
  rows: number;
  imported: T[];
  refused: ImportRefusal[];
  committed: boolean;
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * Decodes a CSV file's bytes: a UTF-8 BOM is dropped; `auto` takes valid UTF-8 as UTF-8 and
 * anything else as Windows-1252 (what a German Excel writes for "CSV (Trennzeichen-getrennt)").
 * @throws ValidationError (`encoding`) for `utf-8` when the bytes are not valid UTF-8, naming the line
 */
export function decodeCsv(bytes: Buffer, encoding: CsvEncoding = 'auto'): { text: string; encoding: 'utf-8' | 'windows-1252' } {
  if (!(CSV_ENCODINGS as readonly string[]).includes(encoding)) {
    throw new ValidationError('encoding', `"${encoding}" is not an encoding; use one of: ${CSV_ENCODINGS.join(', ')}`);
  }
  const body = bytes.subarray(0, 3).equals(BOM) ? bytes.subarray(3) : bytes;
  if (encoding === 'windows-1252') return { text: iconv.decode(body, 'windows-1252'), encoding };
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(body), encoding: 'utf-8' };
  } catch {
    if (encoding === 'auto') return { text: iconv.decode(body, 'windows-1252'), encoding: 'windows-1252' };
    const lenient = new TextDecoder('utf-8').decode(body);
    const line = lenient.slice(0, lenient.indexOf('\uFFFD')).split('\n').length;
    throw new ValidationError('encoding', `the file is not valid UTF-8 (line ${line}); a German Excel export is Windows-1252: use --encoding windows-1252 or auto`);
  }
}

/** `;` or `,`, whichever occurs more often outside quotes in the header line (`,` on a tie). */
export function detectDelimiter(text: string): ';' | ',' {
  let semicolons = 0;
  let commas = 0;
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    else if (!quoted && (ch === '\n' || ch === '\r')) break;
    else if (!quoted && ch === ';') semicolons++;
    else if (!quoted && ch === ',') commas++;
  }
  return semicolons > commas ? ';' : ',';
}

/**
 * Decodes and parses a CSV file (csv-parse): encoding as {@link decodeCsv}, delimiter from the
 * header line, empty lines (also `;;;` rows of empty cells) skipped, a quote inside an unquoted cell
 * taken as it is. Line endings CRLF, LF or CR.
 * @throws ValidationError (`file`) for an empty file or a syntax error, naming the line
 */
export function readCsv(bytes: Buffer, encoding: CsvEncoding = 'auto'): CsvTable {
  const decoded = decodeCsv(bytes, encoding);
  const text = decoded.text.replace(/\r\n?/g, '\n');
  const delimiter = detectDelimiter(text);
  let parsed: { record: string[]; raw: string }[];
  try {
    parsed = parse(text, { delimiter, relax_column_count: true, relax_quotes: true, skip_empty_lines: true, info: true, raw: true }) as unknown as {
      record: string[];
      raw: string;
    }[];
  } catch (err) {
    if (err instanceof CsvError) {
      const line = (err as CsvError & { lines?: number }).lines;
      throw new ValidationError('file', `${line ? `line ${line}: ` : ''}${err.message.replace(/^Invalid [^:]*: /, '')}`);
    }
    throw err;
  }
  // each record's raw text follows the previous one's, skipped empty lines included: count lines through it
  let linesBefore = 0;
  const all: { line: number; cells: string[] }[] = [];
  for (const { record, raw } of parsed) {
    const leading = /^\n*/.exec(raw)![0].length;
    all.push({ line: linesBefore + leading + 1, cells: record });
    linesBefore += raw.split('\n').length - 1;
  }
  const rows = all.filter((r) => r.cells.some((c) => c.trim() !== ''));
  const [head, ...records] = rows;
  if (!head) throw new ValidationError('file', 'the file is empty: expected a header line and rows');
  return { encoding: decoded.encoding, delimiter, header: head.cells.map((c) => c.trim()), records };
}

/** Lower case, umlauts spelled out, letters and digits only: "E-Mails einlesen" → "emailseinlesen". */
const headerKey = (h: string) =>
  h
    .toLowerCase()
    .replace(/ä/g, 'ae')
    .replace(/ö/g, 'oe')
    .replace(/ü/g, 'ue')
    .replace(/ß/g, 'ss')
    .replace(/[^a-z0-9]/g, '');

/**
 * Matches the header cells to known columns (German or English names).
 * @returns for each known column the index of its cell
 * @throws ValidationError (`file`, line 1) for an unknown or repeated column, or a missing required one
 */
function columnIndex<K extends string>(header: string[], known: Record<K, string[]>, required: K[], names: Record<K, string>): Map<K, number> {
  const found = new Map<K, number>();
  header.forEach((cell, i) => {
    const key = headerKey(cell);
    const column = (Object.keys(known) as K[]).find((k) => known[k].includes(key));
    if (!column) {
      throw new ValidationError('file', `line 1: unknown column "${cell}"; the columns are: ${Object.values<string>(names).join(', ')}`);
    }
    if (found.has(column)) throw new ValidationError('file', `line 1: the column "${names[column]}" appears twice`);
    found.set(column, i);
  });
  const missing = required.filter((k) => !found.has(k));
  if (missing.length) throw new ValidationError('file', `line 1: missing column${missing.length > 1 ? 's' : ''} ${missing.map((k) => `"${names[k]}"`).join(', ')}`);
  return found;
}

const TRUE = ['ja', 'j', 'yes', 'y', 'true', 'wahr', '1', 'x'];
const FALSE = ['nein', 'n', 'no', 'false', 'falsch', '0'];

/** A yes/no cell: ja/nein, yes/no, wahr/falsch, true/false, 1/0, x; empty: undefined. @throws ValidationError */
function yesNo(value: string | undefined, column: string): boolean | undefined {
  const v = (value ?? '').trim().toLowerCase();
  if (v === '') return undefined;
  if (TRUE.includes(v)) return true;
  if (FALSE.includes(v)) return false;
  throw new ValidationError(column, `"${value!.trim()}" is not yes or no (ja/nein, yes/no, wahr/falsch, 1/0, x or empty)`);
}

/** The rows did not all pass; rolls the import back. */
class Refused extends Error {}

/**
 * Imports rows in one transaction, each in a savepoint: a row whose rule check fails is rolled
 * back alone and reported. With refusals and without `skipInvalid`, the whole transaction is
 * rolled back. Rows are checked against what earlier rows of the same file added.
 */
async function importRows<T>(
  db: Db,
  table: CsvTable,
  skipInvalid: boolean,
  columnOf: (field: string) => string,
  importOne: (tx: Db, cells: string[]) => Promise<T>,
  extraColumns: (cells: string[]) => boolean,
): Promise<ImportReport<T>> {
  const report: ImportReport<T> = { encoding: table.encoding, delimiter: table.delimiter, rows: table.records.length, imported: [], refused: [], committed: false };
  try {
    await db.transaction(async (tx) => {
      for (const { line, cells } of table.records) {
        if (extraColumns(cells)) {
          report.refused.push({ line, column: 'file', reason: `${cells.length} cells, the header has ${table.header.length}` });
          continue;
        }
        try {
          report.imported.push(await tx.transaction((sp) => importOne(sp as unknown as Db, cells)));
        } catch (err) {
          if (!(err instanceof ValidationError)) throw err;
          report.refused.push({ line, column: columnOf(err.field), reason: err.message });
        }
      }
      if (report.refused.length && !skipInvalid) throw new Refused();
    });
    report.committed = true;
  } catch (err) {
    if (!(err instanceof Refused)) throw err;
    report.imported = [];
  }
  return report;
}

/** More cells than the header, other than empty ones at the end (Excel writes `a;b;;`). */
const tooManyCells = (width: number) => (cells: string[]) => cells.slice(width).some((c) => c.trim() !== '');

const STAFF_COLUMNS = {
  name: ['name'],
  email: ['email', 'emailadresse', 'mail'],
  login: ['login', 'loginname', 'anmeldename', 'benutzername'],
  external: ['extern', 'external'],
  active: ['aktuell', 'active', 'aktiv'],
  admin: ['admin'],
  mailImport: ['emailseinlesen', 'emailsautomatischeinlesen', 'mailimport'],
};
type StaffColumn = keyof typeof STAFF_COLUMNS;
const STAFF_NAMES: Record<StaffColumn, string> = {
  name: 'Name',
  email: 'E-Mail',
  login: 'Login',
  external: 'Extern',
  active: 'Aktuell',
  admin: 'Admin',
  mailImport: 'E-Mails einlesen',
};

/** A staff member as imported (no password). */
export type ImportedStaff = Pick<StaffRow, 'id' | 'name' | 'email' | 'login' | 'active' | 'external' | 'role' | 'mailImport'>;

/**
 * Imports staff from CSV (domain.md item 4; issue 5 item 3). Columns, German or English:
 * Name, E-Mail (required), Login, Extern, Aktuell (default yes), Admin, E-Mails einlesen (default:
 * yes with a login). Each row goes through the rules of {@link addStaff}; a refused row is reported
 * with its line number, column and reason.
 * @param opts.skipInvalid import the valid rows when some are refused (default: import nothing then)
 * @throws ValidationError for an unreadable file or header (nothing imported)
 */
export async function importStaffCsv(
  db: Db,
  bytes: Buffer,
  opts: { encoding?: CsvEncoding; skipInvalid?: boolean } = {},
): Promise<ImportReport<ImportedStaff>> {
  const table = readCsv(bytes, opts.encoding);
  const col = columnIndex<StaffColumn>(table.header, STAFF_COLUMNS, ['name', 'email'], STAFF_NAMES);
  const headed = (k: StaffColumn) => table.header[col.get(k)!] ?? STAFF_NAMES[k];
  const columnOf = (field: string) => {
    const k = ({ role: 'admin', inactive: 'active' } as Record<string, StaffColumn>)[field] ?? (field as StaffColumn);
    return col.has(k) ? headed(k) : field;
  };
  return importRows(
    db,
    table,
    Boolean(opts.skipInvalid),
    columnOf,
    async (tx, cells) => {
      const cell = (k: StaffColumn) => (col.has(k) ? (cells[col.get(k)!] ?? '').trim() : '');
      const flag = (k: StaffColumn) => yesNo(cell(k), k);
      const login = cell('login');
      const input: NewStaff = {
        name: cell('name'),
        email: cell('email'),
        login: login === '' ? undefined : login,
        external: flag('external'),
        inactive: flag('active') === false,
        role: flag('admin') ? 'admin' : 'staff',
        mailImport: flag('mailImport'),
      };
      const s = await addStaff(tx, input);
      return { id: s.id, name: s.name, email: s.email, login: s.login, active: s.active, external: s.external, role: s.role, mailImport: s.mailImport };
    },
    tooManyCells(table.header.length),
  );
}

const MAPPING_COLUMNS = { from: ['von', 'from'], to: ['an', 'to'] };
const MAPPING_NAMES = { from: 'Von', to: 'An' };

/**
 * Imports sender mappings from CSV (domain.md item 5): columns Von (the sender address) and An
 * (the login), or From and To. Each row goes through the rules of {@link addMapping}; a refused
 * row is reported with its line number, column and reason.
 * @param opts.skipInvalid import the valid rows when some are refused (default: import nothing then)
 * @throws ValidationError for an unreadable file or header (nothing imported)
 */
export async function importMappingsCsv(
  db: Db,
  bytes: Buffer,
  opts: { encoding?: CsvEncoding; skipInvalid?: boolean } = {},
): Promise<ImportReport<{ from: string; to: string }>> {
  const table = readCsv(bytes, opts.encoding);
  const col = columnIndex<'from' | 'to'>(table.header, MAPPING_COLUMNS, ['from', 'to'], MAPPING_NAMES);
  return importRows(
    db,
    table,
    Boolean(opts.skipInvalid),
    (field) => (field === 'from' || field === 'to' ? table.header[col.get(field)!]! : field),
    async (tx, cells) => {
      const from = (cells[col.get('from')!] ?? '').trim();
      const to = (cells[col.get('to')!] ?? '').trim();
      if (!to) throw new ValidationError('to', 'expected the login of the staff member who gets the task');
      const r = await addMapping(tx, from, to);
      return { from: r.from, to };
    },
    tooManyCells(table.header.length),
  );
}
