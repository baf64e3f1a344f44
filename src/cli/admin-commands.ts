import type { Command } from 'commander';
import type { AppContext } from '../context.js';
import { createAdmin } from '../services/admin-auth.js';
import type { CliIo } from './commands.js';

/**
 * `posteingang admin create <login> --name … --email … --password-stdin`: the first (or another)
 * admin of the browser admin, with a login and a password (argon2id) read from standard input,
 * as `staff passwd --password-stdin` does. All or nothing: a refused password creates no record.
 * @param readPassword the first line of standard input (refuses an empty one)
 */
export function registerAdminCommands(program: Command, io: CliIo, getContext: () => Promise<AppContext>, readPassword: () => Promise<string>): void {
  const admin = program.command('admin').description('administrators of the browser admin');
  admin
    .command('create <login>')
    .description('create an admin staff record with a login; the password is read from standard input')
    .requiredOption('--name <name>', '"Nachname, Vorname"')
    .requiredOption('--email <address>', 'e-mail address of the person')
    .requiredOption('--password-stdin', 'read the password from standard input (at least 10 characters)')
    .option('--json', 'machine-readable output')
    .action(async (login: string, o: { name: string; email: string; json?: boolean }) => {
      const password = await readPassword();
      const created = await createAdmin((await getContext()).db, { login, name: o.name, email: o.email, password });
      if (o.json) io.out(`${JSON.stringify(created, null, 2)}\n`);
      else io.out(`admin ${created.login} created (staff ${created.id}: ${created.name} <${created.email}>); log in at /login\n`);
    });
}
