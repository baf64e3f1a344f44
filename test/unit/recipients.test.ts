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
