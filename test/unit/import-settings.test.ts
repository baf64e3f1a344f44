import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ValidationError } from '../../src/services/errors.js';
import { listChannelSettings, setImportSettings } from '../../src/services/settings.js';
import { bridgeEvents } from '../../src/events.js';
import { testContext } from '../helpers/env.js';

let env: Awaited<ReturnType<typeof testContext>>;
before(async () => {
  env = await testContext();
});
after(() => env.close());

test('seeded defaults follow the reference: auto-import on every 15 minutes, auto-complete off', async () => {
  const rows = await listChannelSettings(env.ctx.db);
  assert.deepEqual(
    rows.map((r) => [r.channel, r.activityType, r.autoImport, r.pollIntervalMinutes, r.autoComplete]),
    [
      ['general', 'E-Mail-Eingang', true, 15, false],
      ['scanner', 'Scan-Eingang', true, 15, false],
    ],
  );
});

test('changing import settings stores them and tells the scheduler', async () => {
  const seen: string[] = [];
  const stop = await bridgeEvents(env.ctx.database, env.ctx.events);
  const told = new Promise<void>((resolve) => env.ctx.events.once('mailbox.changed', ({ channel }) => (seen.push(channel), resolve())));
  await setImportSettings(env.ctx, 'scanner', { autoImport: false, pollIntervalMinutes: 1 });
  await told;
  await stop();
  const scanner = (await listChannelSettings(env.ctx.db)).find((r) => r.channel === 'scanner')!;
  assert.equal(scanner.autoImport, false);
  assert.equal(scanner.pollIntervalMinutes, 1);
  assert.deepEqual(seen, ['scanner']);
});

for (const bad of [0, 1441, 2.5]) {
  test(`a poll interval of ${bad} minutes is refused (1–1440)`, async () => {
    await assert.rejects(
      setImportSettings(env.ctx, 'general', { pollIntervalMinutes: bad }),
      (err: unknown) => err instanceof ValidationError && err.field === 'pollIntervalMinutes',
    );
  });
}
