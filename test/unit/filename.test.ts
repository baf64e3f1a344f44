/**
 * safeFilename(): an attachment's declared name made safe to store and to offer for download.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { safeFilename } from '../../src/ingest/filename.js';

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
/** True when the string survives a UTF-8 round trip, i.e. holds no lone surrogate. */
const wellFormed = (s: string) => Buffer.from(s, 'utf8').toString('utf8') === s;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

describe('safeFilename: path parts', () => {
  test("'../../etc/passwd' → 'passwd'", () => {
    assert.equal(safeFilename('../../etc/passwd', 1), 'passwd');
  });

  test("'C:\\x\\y.pdf' → 'y.pdf'", () => {
    assert.equal(safeFilename('C:\\x\\y.pdf', 1), 'y.pdf');
  });

  test('mixed separators and an absolute path', () => {
    assert.equal(safeFilename('/var/tmp\\..\\scan.pdf', 1), 'scan.pdf');
    assert.equal(safeFilename('\\\\server\\share\\Bescheid.pdf', 1), 'Bescheid.pdf');
  });

  test('a name that is only a path gives the fallback', () => {
    assert.equal(safeFilename('../', 4), 'attachment-4');
    assert.equal(safeFilename('a/b/', 2), 'attachment-2');
    assert.equal(safeFilename('..', 5), 'attachment-5');
  });
});

describe('safeFilename: characters', () => {
  test('control characters (C0, DEL, C1) are removed', () => {
    assert.equal(safeFilename('Sc\u0000an\u0007\u001b_\u007f01\u0085\u009f.pdf', 1), 'Scan_01.pdf');
    assert.equal(safeFilename('line\r\nbreak.txt', 1), 'linebreak.txt');
  });

  test('characters Windows forbids become "_"', () => {
    assert.equal(safeFilename('a<b>c:d"e|f?g*h.txt', 1), 'a_b_c_d_e_f_g_h.txt');
  });

  test('leading dots and surrounding spaces are trimmed', () => {
    assert.equal(safeFilename('.htaccess', 1), 'htaccess');
    assert.equal(safeFilename('...hidden.pdf', 1), 'hidden.pdf');
    assert.equal(safeFilename('   Bescheid.pdf  ', 1), 'Bescheid.pdf');
    assert.equal(safeFilename(' . Bescheid.pdf', 1), 'Bescheid.pdf');
  });

  test('umlauts and spaces are kept; decomposed forms are normalised to NFC', () => {
    assert.equal(safeFilename('Bescheid Müller 2021.pdf', 1), 'Bescheid Müller 2021.pdf');
    assert.equal(safeFilename('Mu\u0308ller.pdf', 1), 'M\u00fcller.pdf');
  });

  test('the xss corpus name has no path part and no markup brackets', () => {
    const name = safeFilename('../../../../etc/cron.d/<svg onload=alert(2)>.sh', 1);
    assert.ok(!/[\\/<>]/.test(name), name);
    assert.ok(name.endsWith('.sh'));
    assert.ok(!name.startsWith('.'));
  });

  test('never a path separator, control character or leading dot, whatever comes in', () => {
    const nasty = ['..\\..\\x', '/\u0000/\u0001', '\u202e.gpj.exe', 'a/../../b\\..\\c', '\u0085..\u0000.', 'C:', 'x\u0000/y', '\t\n '];
    for (const input of nasty) {
      const name = safeFilename(input, 9);
      assert.ok(!/[\\/]/.test(name), `${JSON.stringify(input)} → ${JSON.stringify(name)}`);
      assert.ok(!CONTROL.test(name), `${JSON.stringify(input)} → ${JSON.stringify(name)}`);
      assert.ok(!name.startsWith('.'), `${JSON.stringify(input)} → ${JSON.stringify(name)}`);
      assert.ok(name.length > 0);
    }
  });
});

describe('safeFilename: fallback', () => {
  test("empty → 'attachment-<position>'", () => {
    assert.equal(safeFilename('', 3), 'attachment-3');
    assert.equal(safeFilename(undefined, 1), 'attachment-1');
    assert.equal(safeFilename('   ', 7), 'attachment-7');
    assert.equal(safeFilename('\u0000\u0001\u001f', 2), 'attachment-2');
  });

  test('with a fallback extension', () => {
    assert.equal(safeFilename(undefined, 2, 'pdf'), 'attachment-2.pdf');
    assert.equal(safeFilename('', 11, 'png'), 'attachment-11.png');
  });

  test('a usable name ignores the fallback extension', () => {
    assert.equal(safeFilename('scan', 1, 'pdf'), 'scan');
  });
});

describe('safeFilename: length cap at 200 bytes (UTF-8), extension kept', () => {
  test('a name of exactly 200 bytes is unchanged', () => {
    const name = `${'a'.repeat(196)}.pdf`;
    assert.equal(safeFilename(name, 1), name);
  });

  test('ASCII: 300 + ".pdf" → 196 + ".pdf"', () => {
    assert.equal(safeFilename(`${'a'.repeat(300)}.pdf`, 1), `${'a'.repeat(196)}.pdf`);
  });

  test('two-byte characters are not cut in half', () => {
    const name = safeFilename(`${'ü'.repeat(150)}.pdf`, 1);
    assert.equal(name, `${'ü'.repeat(98)}.pdf`);
    assert.equal(bytes(name), 200);
  });

  test('four-byte characters (surrogate pairs) are not cut in half', () => {
    const name = safeFilename(`${'😀'.repeat(60)}.pdf`, 1);
    assert.equal(name, `${'😀'.repeat(49)}.pdf`);
    assert.ok(wellFormed(name));
  });

  test('no extension: cut to 200 bytes', () => {
    const name = safeFilename('b'.repeat(500), 1);
    assert.equal(name, 'b'.repeat(200));
  });

  test('a huge declared name (50 000 characters) is capped in linear time', () => {
    // a Content-Disposition header may be up to mailsplit's 1 MB header limit: the cap must not be quadratic
    const start = performance.now();
    const name = safeFilename(`${'a'.repeat(50_000)}.pdf`, 1);
    const ms = performance.now() - start;
    assert.equal(name, `${'a'.repeat(196)}.pdf`);
    assert.ok(ms < 1500, `took ${Math.round(ms)} ms`);
  });

  test('a very long extension: still at most 200 bytes and well-formed UTF-8', () => {
    for (const input of [`${'x'.repeat(250)}.${'y'.repeat(40)}`, `${'x'.repeat(250)}.${'😀'.repeat(15)}`, `${'ü'.repeat(120)}.${'ß'.repeat(30)}`]) {
      const name = safeFilename(input, 1);
      assert.ok(bytes(name) <= 200, `${bytes(name)} bytes`);
      assert.ok(bytes(name) > 150, 'not cut more than needed');
      assert.ok(wellFormed(name), `no lone surrogate in ${JSON.stringify(name.slice(-25))}`);
      assert.ok(name.startsWith('x') || name.startsWith('ü'));
    }
  });
});
