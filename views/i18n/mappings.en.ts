import type { mappingsDe } from './mappings.de.js';

/** English messages of the mapping grid, typed by the German ones. */
export const mappingsEn: typeof mappingsDe = {
  title: 'Manage e-mail addresses',
  intro: 'A message is assigned by its sender address. From: the e-mail address of a current staff record (external people included). To: current staff with a login and the permission mail.import. When an address has several rows, whoever takes the task first gets it.',
  from: 'From',
  to: 'To',
  actions: 'Actions',
  status: 'Notes',
  add: 'New',
  save: 'Save',
  cancel: 'Cancel',
  edit: 'Edit',
  delete: 'Delete',
  confirmDelete: (from, to) => `Delete the row ${from} → ${to}?`,
  chooseTo: 'please choose',
  fromLabel: 'From (e-mail address)',
  toLabel: 'To (staff member)',
  empty: 'No mappings yet. "New" adds a row.',
  noEligible: 'Nobody can receive tasks: no current staff member has a login and mail.import.',
  waiting: (n, from) => `${n} ${n === 1 ? 'task' : 'tasks'} from ${from} ${n === 1 ? 'is' : 'are'} waiting in "Unassigned".`,
  route: 'Route now',
  routed: (n) => `${n} ${n === 1 ? 'task was' : 'tasks were'} routed.`,
  saved: 'Saved.',
  inactive: '(not current)',
  noLogin: 'no login',
};
