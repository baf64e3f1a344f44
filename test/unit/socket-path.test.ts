import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { adminSocketPath } from '../../src/cli/socket.js';

test('the admin socket lives in the data directory when the path fits a Unix socket', () => {
  assert.equal(adminSocketPath('/srv/posteingang/data'), '/srv/posteingang/data/admin.sock');
});

test('a data directory too long for a Unix socket path (108 bytes) gets a socket in the temp directory', () => {
  const long = `/srv/${'x'.repeat(120)}/data`;
  const p = adminSocketPath(long);
  assert.equal(path.dirname(p), tmpdir());
  assert.ok(Buffer.byteLength(p) < 108, `${p} is ${Buffer.byteLength(p)} bytes`);
  // the same directory always maps to the same socket, and another directory to another one
  assert.equal(adminSocketPath(long), p);
  assert.notEqual(adminSocketPath(`${long}2`), p);
});
