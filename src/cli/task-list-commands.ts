import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import type { AppContext } from '../context.js';
import { addActivityType, listActivityTypes, renameActivityType, useActivityType } from '../services/activity-types.js';
import { CSV_ENCODINGS, importMappingsCsv, importStaffCsv, type CsvEncoding, type ImportReport } from '../services/csv-import.js';
import { ValidationError } from '../services/errors.js';
import {
  exportOpenTasksCsv,
  listOpenTasks,
  OPEN_STATUSES,
  openTaskFilterQuery,
  openTaskListQuery,
  parseTaskListQuery,
  TASK_LIST_SORTS,
} from '../services/task-list.js';
import type { CliIo } from './commands.js';
import { table, taskFlags } from './table.js';

const json = (io: CliIo, value: unknown) => io.out(`${JSON.stringify(value, null, 2)}\n`);

async function readInput(io: CliIo, file: string): Promise<Buffer> {
  try {
    return await readFile(path.resolve(io.cwd, file));
  } catch (err) {
    throw new ValidationError('file', `${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Prints an import's refusals and outcome. @throws ValidationError when nothing was imported because of them */
function reportImport(io: CliIo, what: string, file: string, r: ImportReport<unknown>, asJson: boolean): void {
  if (asJson) json(io, r);
  for (const x of r.refused) io.err(`line ${x.line} (${x.column}): ${x.reason}\n`);
  if (!r.committed) {
    throw new ValidationError('file', `${r.refused.length} of ${r.rows} rows refused; nothing imported (--skip-invalid imports the valid rows)`);
  }
  if (!asJson) {
    io.out(
      `imported ${r.imported.length} ${what} from ${file} (${r.encoding}, "${r.delimiter}")` +
        `${r.refused.length ? `; skipped ${r.refused.length} refused row${r.refused.length > 1 ? 's' : ''}` : ''}\n`,
    );
  }
}

const encodingHelp = `file encoding: ${CSV_ENCODINGS.join(', ')} (auto: valid UTF-8, else Windows-1252)`;

/**
 * Issue 5 CLI commands of the open-task list, CSV import and activity types:
 * `tasks open`, `staff import`, `mapping import`, `activity-type add|rename|list|use`.
 * @param parents the existing `tasks`, `staff` and `mapping` command groups and the program
 */
export function registerTaskListCommands(
  parents: { program: Command; tasks: Command; staff: Command; mapping: Command },
  io: CliIo,
  getContext: () => Promise<AppContext>,
): void {
  parents.tasks
    .command('open')
    .description('open-task list ("Listengenerator"): tasks not completed; --csv for the whole list as CSV')
    .option('--status <status>', OPEN_STATUSES.join(' | '))
    .option('--channel <channel>', 'general | scanner')
    .option('--activity-type <name>', 'activity type ("Tätigkeit")')
    .option('--assignee <login>', 'login of the assignee, or none')
    .option('--sender <text>', 'part of the sender address or name (case-insensitive)')
    .option('--sender-address <address>', 'the sender address exactly (case-insensitive)')
    .option('--older-than <days>', 'created more than this many days ago')
    .option('--from <date>', 'created on or after (YYYY-MM-DD or date-time with zone)')
    .option('--to <date>', 'created on or before (a date includes its whole day)')
    .option('--sort <column>', TASK_LIST_SORTS.join(' | '), 'created')
    .option('--order <order>', 'asc | desc', 'asc')
    .option('--limit <n>', 'rows per page (1–1000)', '50')
    .option('--offset <n>', 'rows to skip', '0')
    .option('--csv', 'the whole list (no paging) as CSV: ",", UTF-8')
    .option('--excel', 'CSV for Excel: ";", UTF-8 BOM, CRLF, formula-guarded cells (implies --csv)')
    .option('--json', 'machine-readable output')
    .action(async (o: Record<string, string | boolean | undefined>) => {
      const filters: Record<string, unknown> = {
        status: o.status,
        channel: o.channel,
        activityType: o.activityType,
        assignee: o.assignee,
        sender: o.sender,
        senderAddress: o.senderAddress,
        olderThanDays: o.olderThan,
        createdFrom: o.from,
        createdTo: o.to,
        sort: o.sort,
        order: o.order,
      };
      for (const k of Object.keys(filters)) if (filters[k] === undefined) delete filters[k];
      const { db } = await getContext();
      if (o.csv || o.excel) {
        io.out(await exportOpenTasksCsv(db, parseTaskListQuery(openTaskFilterQuery, filters), { excel: Boolean(o.excel) }));
        return;
      }
      const page = await listOpenTasks(db, parseTaskListQuery(openTaskListQuery, { ...filters, limit: o.limit, offset: o.offset }));
      if (o.json) return json(io, page);
      io.out(
        table(
          page.items.map((t) => ({ ...t, assignee: t.assignee ? (t.assignee.login ?? t.assignee.name) : '', flags: taskFlags(t) })),
          ['id', 'status', 'channel', 'activityType', 'sender', 'subject', 'assignee', 'createdAt', 'flags'],
        ),
      );
      const shown = page.items.length ? `${page.offset + 1}–${page.offset + page.items.length}` : 'none';
      io.err(`(${shown} of ${page.total} open tasks)\n`);
    });

  for (const [parent, what, run] of [
    [parents.staff, 'staff members', importStaffCsv],
    [parents.mapping, 'mappings', importMappingsCsv],
  ] as const) {
    parent
      .command('import <file>')
      .description(
        what === 'staff members'
          ? 'import staff from CSV: Name, E-Mail, Login, Extern, Aktuell, Admin, E-Mails einlesen (German or English headers, ";" or ",")'
          : 'import mappings from CSV: Von, An (login) (or From, To; ";" or ",")',
      )
      .option('--skip-invalid', 'import the valid rows even when some are refused (default: nothing then)')
      .option('--encoding <encoding>', encodingHelp, 'auto')
      .option('--json', 'machine-readable output')
      .action(async (file: string, o: { skipInvalid?: boolean; encoding: string; json?: boolean }) => {
        if (!(CSV_ENCODINGS as readonly string[]).includes(o.encoding)) {
          throw new ValidationError('encoding', `"${o.encoding}" is not an encoding; use one of: ${CSV_ENCODINGS.join(', ')}`);
        }
        const bytes = await readInput(io, file);
        const report = await run((await getContext()).db, bytes, { encoding: o.encoding as CsvEncoding, skipInvalid: o.skipInvalid });
        reportImport(io, what, file, report, Boolean(o.json));
      });
  }

  const type = parents.program.command('activity-type').description('activity types ("Tätigkeiten") of imported tasks');
  type
    .command('add <name>')
    .option('--json', 'machine-readable output')
    .action(async (name: string, o: { json?: boolean }) => {
      const t = await addActivityType((await getContext()).db, name);
      o.json ? json(io, t) : io.out(`added activity type ${t.id}: ${t.name}\n`);
    });
  type
    .command('rename <old> <new>')
    .option('--json', 'machine-readable output')
    .action(async (from: string, to: string, o: { json?: boolean }) => {
      const t = await renameActivityType((await getContext()).db, from, to);
      o.json ? json(io, t) : io.out(`renamed activity type ${t.id} to ${t.name}\n`);
    });
  type
    .command('list')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const rows = await listActivityTypes((await getContext()).db);
      o.json ? json(io, rows) : io.out(table(rows.map((r) => ({ ...r, channels: r.channels.join(', ') })), ['id', 'name', 'channels', 'tasks']));
    });
  type
    .command('use <name>')
    .description('new tasks of the channel get this activity type')
    .requiredOption('--channel <channel>', 'general | scanner')
    .option('--json', 'machine-readable output')
    .action(async (name: string, o: { channel: string; json?: boolean }) => {
      const r = await useActivityType((await getContext()).db, name, o.channel);
      o.json ? json(io, r) : io.out(`new tasks of ${r.channel} get the activity type ${r.activityType}\n`);
    });
}
