// Activity types ("Tätigkeiten"): add, rename, list, use per channel; the rules with their exact
// refusals; new tasks get the channel's type, existing ones keep theirs.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { rawFromBuffer } from '../../src/ingest/raw.js';
import { addActivityType, listActivityTypes, renameActivityType, useActivityType } from '../../src/services/activity-types.js';
import { NotFoundError, ValidationError } from '../../src/services/errors.js';
import { listChannelSettings } from '../../src/services/settings.js';
import { listTasks } from '../../src/services/tasks.js';
import { driver, testContext } from '../helpers/env.js';
import { cli } from './lib.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/${name}`, import.meta.url));
const refused = (field: string, message: string) => (e: unknown) => e instanceof ValidationError && e.field === field && e.message === message;
const notFound = (message: string) => (e: unknown) => e instanceof NotFoundError && e.message === message;

describe(`activity types (${driver})`, () => {
  let env: Awaited<ReturnType<typeof testContext>>;
  before(async () => {
    env = await testContext();
  });
  after(() => env?.close());

  test('the seed: one type per channel, listed by name with its channels and number of tasks', async () => {
    const rows = await listActivityTypes(env.ctx.db);
    assert.deepEqual(
      rows.map(({ name, channels, tasks }) => ({ name, channels, tasks })),
      [
        { name: 'E-Mail-Eingang', channels: ['general'], tasks: 0 },
        { name: 'Scan-Eingang', channels: ['scanner'], tasks: 0 },
      ],
    );
  });

  test('add: a name, trimmed', async () => {
    const t = await addActivityType(env.ctx.db, '  Widerspruch ');
    assert.equal(t.name, 'Widerspruch');
    assert.deepEqual((await listActivityTypes(env.ctx.db)).map((r) => r.name), ['E-Mail-Eingang', 'Scan-Eingang', 'Widerspruch']);
  });

  test('add refuses an empty name, a taken name in any case, an over-long name, control characters', async () => {
    const { db } = env.ctx;
    await assert.rejects(addActivityType(db, '   '), refused('name', 'an activity type needs a name'));
    await assert.rejects(addActivityType(db, 'e-mail-eingang'), refused('name', 'an activity type named "E-Mail-Eingang" exists'));
    await assert.rejects(addActivityType(db, 'WIDERSPRUCH'), refused('name', 'an activity type named "Widerspruch" exists'));
    await assert.rejects(addActivityType(db, 'x'.repeat(101)), refused('name', `"${'x'.repeat(101)}" is longer than 100 characters`));
    await assert.rejects(addActivityType(db, 'Akte\tneu'), refused('name', 'an activity type name cannot contain control characters'));
    assert.equal((await addActivityType(db, 'ü'.repeat(100))).name.length, 100, '100 characters are fine');
  });

  test('two adds of one name in different case at once: exactly one wins (unique index on lower(name))', async () => {
    const results = await Promise.allSettled([addActivityType(env.ctx.db, 'Eilsache'), addActivityType(env.ctx.db, 'EILSACHE')]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    assert.ok(lost.reason instanceof ValidationError && lost.reason.field === 'name', String(lost.reason));
  });

  test('rename: found in any case; changing only the case is allowed', async () => {
    const { db } = env.ctx;
    const before = (await listActivityTypes(db)).find((r) => r.name === 'Widerspruch')!;
    const r = await renameActivityType(db, 'widerspruch', 'Widerspruchsverfahren');
    assert.deepEqual(r, { id: before.id, name: 'Widerspruchsverfahren' });
    assert.equal((await renameActivityType(db, 'Widerspruchsverfahren', 'WIDERSPRUCHSVERFAHREN')).name, 'WIDERSPRUCHSVERFAHREN');
  });

  test('rename refuses an unknown type, a taken name, an empty name', async () => {
    const { db } = env.ctx;
    await assert.rejects(renameActivityType(db, 'Posteingang', 'Neu'), notFound('no activity type is named "Posteingang"'));
    await assert.rejects(renameActivityType(db, 'WIDERSPRUCHSVERFAHREN', 'scan-eingang'), refused('to', 'an activity type named "Scan-Eingang" exists'));
    await assert.rejects(renameActivityType(db, 'WIDERSPRUCHSVERFAHREN', ''), refused('to', 'an activity type needs a name'));
  });

  test('use: new tasks of the channel get the type; tasks already there keep theirs', async () => {
    const { ctx } = env;
    const first = await ctx.ingest(rawFromBuffer(fixture('scanner-basic.eml')), { kind: 'file', channels: ['general'], path: 'a.eml' });
    assert.deepEqual(await useActivityType(ctx.db, 'widerspruchsverfahren', 'general'), { channel: 'general', activityType: 'WIDERSPRUCHSVERFAHREN' });
    const second = await ctx.ingest(rawFromBuffer(fixture('latin1-split-encoded-word.eml')), { kind: 'file', channels: ['general'], path: 'b.eml' });
    const tasks = await listTasks(ctx.db);
    const typeOf = (id: number) => tasks.find((t) => t.id === id)!.activityType;
    assert.equal(typeOf(first.tasks[0]!.id), 'E-Mail-Eingang');
    assert.equal(typeOf(second.tasks[0]!.id), 'WIDERSPRUCHSVERFAHREN');
    const settings = await listChannelSettings(ctx.db);
    assert.deepEqual(
      settings.map((s) => [s.channel, s.activityType]),
      [
        ['general', 'WIDERSPRUCHSVERFAHREN'],
        ['scanner', 'Scan-Eingang'],
      ],
    );
    const list = await listActivityTypes(ctx.db);
    const row = (name: string) => list.find((r) => r.name === name)!;
    assert.deepEqual([row('E-Mail-Eingang').channels, row('E-Mail-Eingang').tasks], [[], 1]);
    assert.deepEqual([row('WIDERSPRUCHSVERFAHREN').channels, row('WIDERSPRUCHSVERFAHREN').tasks], [['general'], 1]);
  });

  test('use refuses an unknown type and an unknown channel', async () => {
    await assert.rejects(useActivityType(env.ctx.db, 'Posteingang', 'general'), notFound('no activity type is named "Posteingang"'));
    await assert.rejects(useActivityType(env.ctx.db, 'Scan-Eingang', 'fax'), refused('channel', '"fax" is not a channel; use one of: general, scanner'));
  });

  test('CLI activity-type add, rename, use, list (--json); refusals on stderr with exit 1', async () => {
    const { ctx } = env;
    const add = await cli(ctx, ['activity-type', 'add', 'Beschwerde', '--json']);
    assert.equal(add.code, 0, add.stderr);
    const added = JSON.parse(add.stdout.toString()) as { id: number; name: string };
    assert.equal(added.name, 'Beschwerde');
    const ren = await cli(ctx, ['activity-type', 'rename', 'beschwerde', 'Beschwerde (Bürger)']);
    assert.equal(ren.code, 0, ren.stderr);
    assert.equal(ren.stdout.toString(), `renamed activity type ${added.id} to Beschwerde (Bürger)\n`);
    const use = await cli(ctx, ['activity-type', 'use', 'Beschwerde (Bürger)', '--channel', 'scanner']);
    assert.equal(use.code, 0, use.stderr);
    assert.equal(use.stdout.toString(), 'new tasks of scanner get the activity type Beschwerde (Bürger)\n');
    const list = await cli(ctx, ['activity-type', 'list', '--json']);
    const rows = JSON.parse(list.stdout.toString()) as { id: number; name: string; channels: string[] }[];
    assert.deepEqual(rows.find((r) => r.id === added.id), { id: added.id, name: 'Beschwerde (Bürger)', channels: ['scanner'], tasks: 0 });
    const table = await cli(ctx, ['activity-type', 'list']);
    assert.match(table.stdout.toString(), /^id\s+name\s+channels\s+tasks\n/);
    assert.match(table.stdout.toString(), new RegExp(`\\n${added.id}\\s+Beschwerde \\(Bürger\\)\\s+scanner\\s+0\\n`));

    const dup = await cli(ctx, ['activity-type', 'add', 'E-MAIL-EINGANG']);
    assert.deepEqual([dup.code, dup.stderr], [1, 'refused (name): an activity type named "E-Mail-Eingang" exists\n']);
    const missing = await cli(ctx, ['activity-type', 'rename', 'Posteingang', 'Neu']);
    assert.deepEqual([missing.code, missing.stderr], [1, 'no activity type is named "Posteingang"\n']);
    const channel = await cli(ctx, ['activity-type', 'use', 'Scan-Eingang', '--channel', 'fax']);
    assert.deepEqual([channel.code, channel.stderr], [1, 'refused (channel): "fax" is not a channel; use one of: general, scanner\n']);
  });
});
