import assert from 'node:assert/strict';
import { test } from 'node:test';
import { channelForRecipient } from '../../src/inbound/smtp/recipients.js';

const table: Record<string, 'scanner' | 'general'> = { 'scan@agency.example': 'scanner', 'tauoffice@agency.example': 'general' };
const lookup = async (a: string) => table[a] ?? null;

test('configured inbound addresses are ours, in any case', async () => {
  assert.equal(await channelForRecipient('Scan@Agency.Example', lookup), 'scanner');
  assert.equal(await channelForRecipient('tauoffice@agency.example', lookup), 'general');
});

test('any other address is not ours (never a relay)', async () => {
  assert.equal(await channelForRecipient('someone@example.org', lookup), null);
  assert.equal(await channelForRecipient('scan', lookup), null);
});

test('the domainless reserved mailbox "postmaster" is accepted (RFC 5321 §4.5.1) and goes to the general channel', async () => {
  assert.equal(await channelForRecipient('PostMaster', lookup), 'general');
});

// RFC 5321 §4.5.1: "postmaster" at every domain the server provides mail service for must be accepted.
const ourDomains = new Set(['agency.example']);
const isOurs = async (d: string) => ourDomains.has(d);

test('postmaster@<a domain of an inbound address> is accepted, in any case, into the general channel; a foreign domain is not', async () => {
  assert.equal(await channelForRecipient('postmaster@agency.example', lookup, isOurs), 'general');
  assert.equal(await channelForRecipient('PostMaster@Agency.Example', lookup, isOurs), 'general');
  assert.equal(await channelForRecipient('postmaster@example.org', lookup, isOurs), null);
  assert.equal(await channelForRecipient('hostmaster@agency.example', lookup, isOurs), null, 'only postmaster is reserved this way');
  assert.equal(await channelForRecipient('postmaster@agency.example', lookup), null, 'without a domain check only configured addresses');
});

test('a postmaster address configured as an inbound address keeps its channel', async () => {
  const withPostmaster = async (a: string) => (a === 'postmaster@agency.example' ? 'scanner' : lookup(a));
  assert.equal(await channelForRecipient('postmaster@agency.example', withPostmaster, isOurs), 'scanner');
});
