import type { activityTypesDe } from './activity-types.de.js';

/** English messages of the activity types page, typed by the German ones. */
export const activityTypesEn: typeof activityTypesDe = {
  title: 'Activity types',
  intro: 'The activity type is the kind of task a message is imported as. New tasks of a channel get the type chosen there; existing tasks keep theirs.',
  name: 'Name',
  newName: 'New name',
  usedFor: 'Used for',
  tasks: 'Tasks',
  rename: 'Rename',
  renameLabel: (name) => `New name for "${name}"`,
  createTitle: 'New activity type',
  create: 'Create',
  created: (name) => `The activity type "${name}" was created.`,
  renamed: (from, to) => `"${from}" is now called "${to}".`,
  channelsTitle: 'Activity type per channel',
  channel: { general: 'E-mail (general inbound)', scanner: 'Scans (scanner inbound)' },
  channelsSave: 'Save choice',
  channelsSaved: 'The channels\' activity types were saved.',
  none: '–',
  formError: 'Please correct the marked fields.',
};
