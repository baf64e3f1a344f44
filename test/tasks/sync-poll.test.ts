// A sync polls first when auto-import is off (issue 5 item 4; domain.md item 3: "no → fetch once at
// start and when a user asks"), through a running gateway and a real Dovecot; when the mail server
// cannot be reached, the sync still claims and says why the poll failed. Suite's driver.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rawFromBuffer } from '../../src/ingest/raw.js';
import { setMailbox } from '../../src/services/mailboxes.js';
import { setImportSettings } from '../../src/services/settings.js';
import { addMapping, addStaff } from '../../src/services/staff.js';
import { listTasks } from '../../src/services/tasks.js';
import { createToken } from '../../src/services/tokens.js';
import { freePort, startDovecot, type DovecotServer } from '../helpers/dovecot.js';
import { driver, testGateway } from '../helpers/env.js';

const scan = (n: number) =>
  Buffer.from(
    `From: MFP EG <mfp-eg@agency.example>\r\nTo: scan@agency.example\r\nSubject: Scan ${n}\r\n` +
      `Message-ID: <sync-${n}@mfp-eg.agency.example>\r\nDate: Thu, 25 Feb 2021 10:0${n}:00 +0100\r\n\r\nScan ${n}\r\n`,
  );

interface SyncBody {
  claimed: number[];
  tasks: { id: number; subject: string | null }[];
  polled: { channel: string; ok: boolean; imported?: number; error?: string }[];
}

describe(`sync with auto-import off polls the mailbox first (${driver})`, () => {
  let dovecot: DovecotServer;
  let g: Awaited<ReturnType<typeof testGateway>>;
  let token: string;

  const sync = async (): Promise<SyncBody> => {
    const r = await fetch(`http://127.0.0.1:${g.gateway.http.port}/api/v1/sync`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200, await r.clone().text());
    return (await r.json()) as SyncBody;
  };

  before(async () => {
    dovecot = await startDovecot({ users: [{ user: 'scan', password: 'scan-secret' }] });
    g = await testGateway();
    const { ctx } = g.gateway;
    await addStaff(ctx.db, { name: 'MFP EG', email: 'mfp-eg@agency.example', external: true });
    await addStaff(ctx.db, { name: 'Weiß, Susi', email: 'susi@agency.example', login: 'susi' });
    await addMapping(ctx.db, 'mfp-eg@agency.example', 'susi');
    token = await createToken(ctx.db, 'susi');
    await setImportSettings(ctx, 'scanner', { autoImport: false });
    await setMailbox(ctx, 'scanner', {
      protocol: 'imap',
      host: '127.0.0.1',
      port: dovecot.ports.imap,
      security: 'starttls',
      username: 'scan',
      password: 'scan-secret',
      caFile: dovecot.caFile,
    });
    // auto-import is off: setting the mailbox does not poll it; only a start or a request does
  });
  after(async () => {
    await g?.close();
    await dovecot?.stop();
  });

  test('mail that arrived since is imported by the sync and claimed in the same call', async () => {
    await dovecot.deliver('scan', scan(1));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await listTasks(g.gateway.ctx.db)).length, 0, 'auto-import is off: nothing imported on its own');
    const body = await sync();
    assert.deepEqual(body.polled, [{ channel: 'scanner', ok: true, imported: 1 }]);
    assert.equal(body.claimed.length, 1);
    assert.deepEqual(body.tasks.map((t) => [t.id, t.subject]), [[body.claimed[0], 'Scan 1']]);
  });

  test('a mail server that cannot be reached does not stop the sync: it claims and reports the failed poll', async () => {
    const { ctx } = g.gateway;
    await setMailbox(ctx, 'scanner', { port: await freePort() });
    const r = await ctx.ingest(rawFromBuffer(scan(2)), { kind: 'file', channels: ['scanner'], path: 'scan-2.eml' });
    const body = await sync();
    assert.deepEqual(body.claimed, [r.tasks[0]!.id]);
    assert.equal(body.polled.length, 1);
    assert.equal(body.polled[0]!.channel, 'scanner');
    assert.equal(body.polled[0]!.ok, false);
    assert.match(body.polled[0]!.error ?? '', /connection refused/);
  });
});
