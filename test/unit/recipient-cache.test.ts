// cachedRecipientLookup (inbound/smtp/recipient-cache.ts): found inbound addresses answered from
// memory for a while, everything else asked of the database every time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Channel } from '../../src/db/schema.js';
import { cachedRecipientLookup } from '../../src/inbound/smtp/recipient-cache.js';

function setup() {
  let clock = 0;
  const table = new Map<string, Channel>([['scan@agency.example', 'scanner']]);
  const asked: string[] = [];
  let hold: Promise<void> | null = null;
  const lookup = cachedRecipientLookup(
    async (address) => {
      asked.push(address);
      if (hold) await hold;
      return table.get(address) ?? null;
    },
    { freshMs: 2_000, maxStaleMs: 30_000, now: () => clock },
  );
  return {
    lookup,
    asked,
    table,
    tick: (ms: number) => (clock += ms),
    /** the database is busy until the returned function is called */
    block() {
      let release!: () => void;
      hold = new Promise<void>((r) => (release = r));
      return () => {
        hold = null;
        release();
      };
    },
  };
}

test('a found address is answered from memory while fresh; a missing one is asked every time', async () => {
  const s = setup();
  assert.equal(await s.lookup('scan@agency.example'), 'scanner');
  assert.equal(await s.lookup('scan@agency.example'), 'scanner');
  assert.equal(await s.lookup('nobody@agency.example'), null);
  assert.equal(await s.lookup('nobody@agency.example'), null);
  assert.deepEqual(s.asked, ['scan@agency.example', 'nobody@agency.example', 'nobody@agency.example']);
  // an address added is accepted at once (a miss is never remembered)
  s.table.set('nobody@agency.example', 'general');
  assert.equal(await s.lookup('nobody@agency.example'), 'general');
});

test('while the database is busy, a remembered address is still answered (stale, up to the limit), and checked in the background', async () => {
  const s = setup();
  await s.lookup('scan@agency.example');
  s.tick(5_000);
  const release = s.block();
  // older than fresh, younger than the limit: answered at once although the check hangs
  assert.equal(await s.lookup('scan@agency.example'), 'scanner');
  assert.equal(s.asked.length, 2, 'one background check started');
  assert.equal(await s.lookup('scan@agency.example'), 'scanner');
  assert.equal(s.asked.length, 2, 'not a second check while one runs');
  release();
  await new Promise((r) => setImmediate(r));
});

test('an address removed is refused after the background check, and past the stale limit the caller waits for the database', async () => {
  const s = setup();
  await s.lookup('scan@agency.example');
  s.table.delete('scan@agency.example');
  s.tick(2_500);
  assert.equal(await s.lookup('scan@agency.example'), 'scanner', 'once more from memory while the check runs');
  await new Promise((r) => setImmediate(r));
  assert.equal(await s.lookup('scan@agency.example'), null, 'the check found it removed');

  s.table.set('scan@agency.example', 'scanner');
  await s.lookup('scan@agency.example');
  s.table.delete('scan@agency.example');
  s.tick(31_000);
  assert.equal(await s.lookup('scan@agency.example'), null, 'too old to answer from memory: asked and refused');
});
