/**
 * loadConfig(): environment parsed once, *_FILE variants, one clear error naming the variable;
 * addressInNetworks(): the SMTP client allow-list.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { addressInNetworks, ConfigError, DEFAULT_ALLOWED_NETWORKS, loadConfig } from '../../src/config.js';
import { tempDir } from '../helpers/env.js';

/** Runs loadConfig and returns the ConfigError it must throw. */
function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail(`loadConfig(${JSON.stringify(env)}) should have thrown`);
}

function assertNames(err: ConfigError, variable: string) {
  assert.equal(err.variable, variable);
  assert.ok(err.message.includes(variable), `message names ${variable}: ${err.message}`);
  assert.ok(!err.message.includes('\n'), 'one line');
}

describe('loadConfig defaults', () => {
  const config = loadConfig({});

  test('SMTP_PORT 2525, HTTP_PORT 8080, SMTP_MAX_MESSAGE_BYTES 52428800 (50 MiB)', () => {
    assert.equal(config.SMTP_PORT, 2525);
    assert.equal(config.HTTP_PORT, 8080);
    assert.equal(config.SMTP_MAX_MESSAGE_BYTES, 52_428_800);
  });

  test('hosts, log level, no DATABASE_URL (embedded PGlite)', () => {
    assert.equal(config.SMTP_HOST, '0.0.0.0');
    assert.equal(config.HTTP_HOST, '0.0.0.0');
    assert.equal(config.LOG_LEVEL, 'info');
    assert.equal(config.DATABASE_URL, undefined);
  });

  test('DATA_DIR defaults to ./data, dataDir is it made absolute', () => {
    assert.equal(config.DATA_DIR, './data');
    assert.equal(config.dataDir, path.resolve('./data'));
    assert.ok(path.isAbsolute(config.dataDir));
    assert.equal(loadConfig({ DATA_DIR: 'rel/dir' }).dataDir, path.resolve('rel/dir'));
    assert.equal(loadConfig({ DATA_DIR: '/srv/posteingang' }).dataDir, '/srv/posteingang');
  });

  test('the default allow-list is loopback plus the private ranges', () => {
    const nets = config.SMTP_ALLOWED_NETWORKS;
    for (const inside of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.254', '192.168.1.5', '::1', 'fd00::1']) {
      assert.ok(addressInNetworks(inside, nets), `${inside} allowed`);
    }
    for (const outside of ['8.8.8.8', '172.32.0.1', '192.169.0.1', '11.0.0.1', '2001:db8::1', 'fe80::1']) {
      assert.ok(!addressInNetworks(outside, nets), `${outside} refused`);
    }
  });
});

describe('loadConfig values', () => {
  test('numbers are read from strings', () => {
    const c = loadConfig({ SMTP_PORT: '25', HTTP_PORT: '0', SMTP_MAX_MESSAGE_BYTES: '1048576' });
    assert.equal(c.SMTP_PORT, 25);
    assert.equal(c.HTTP_PORT, 0);
    assert.equal(c.SMTP_MAX_MESSAGE_BYTES, 1_048_576);
  });

  test('an empty or blank variable counts as unset', () => {
    assert.equal(loadConfig({ SMTP_PORT: '' }).SMTP_PORT, 2525);
    // a blank value must not turn into port 0 ("any free port")
    assert.equal(loadConfig({ SMTP_PORT: ' ' }).SMTP_PORT, 2525);
    assert.equal(loadConfig({ HTTP_PORT: '\t' }).HTTP_PORT, 8080);
  });

  test('DATABASE_URL postgres:// and postgresql:// accepted', () => {
    assert.equal(loadConfig({ DATABASE_URL: 'postgres://u@h/db' }).DATABASE_URL, 'postgres://u@h/db');
    assert.equal(loadConfig({ DATABASE_URL: 'postgresql://u@h/db' }).DATABASE_URL, 'postgresql://u@h/db');
  });

  test('SMTP_ALLOWED_NETWORKS: a list with spaces', () => {
    const nets = loadConfig({ SMTP_ALLOWED_NETWORKS: ' 203.0.113.0/24 , 2001:db8::/32 ' }).SMTP_ALLOWED_NETWORKS;
    assert.equal(nets.length, 2);
    assert.ok(addressInNetworks('203.0.113.77', nets));
    assert.ok(addressInNetworks('2001:db8:1::5', nets));
    assert.ok(!addressInNetworks('192.168.1.5', nets), 'replaces the default');
    assert.ok(!addressInNetworks('203.0.114.1', nets));
  });
});

describe('loadConfig errors: ConfigError naming the variable', () => {
  test("SMTP_PORT='abc'", () => {
    assertNames(configError({ SMTP_PORT: 'abc' }), 'SMTP_PORT');
  });

  test('SMTP_PORT out of range or not whole', () => {
    assertNames(configError({ SMTP_PORT: '65536' }), 'SMTP_PORT');
    assertNames(configError({ SMTP_PORT: '-1' }), 'SMTP_PORT');
    assertNames(configError({ SMTP_PORT: '25.5' }), 'SMTP_PORT');
  });

  test('HTTP_PORT wrong', () => {
    assertNames(configError({ HTTP_PORT: 'http' }), 'HTTP_PORT');
  });

  test('invalid CIDR names SMTP_ALLOWED_NETWORKS (and the bad part)', () => {
    for (const bad of ['10.0.0.0/33', '192.168.1.1', 'localhost', '10.0.0.0/8,300.1.1.1/8', ' , ']) {
      const err = configError({ SMTP_ALLOWED_NETWORKS: bad });
      assertNames(err, 'SMTP_ALLOWED_NETWORKS');
    }
    assert.ok(configError({ SMTP_ALLOWED_NETWORKS: '10.0.0.0/8,300.1.1.1/8' }).message.includes('300.1.1.1/8'));
  });

  test('SMTP_MAX_MESSAGE_BYTES below 1024 or not a number', () => {
    assertNames(configError({ SMTP_MAX_MESSAGE_BYTES: '1000' }), 'SMTP_MAX_MESSAGE_BYTES');
    assertNames(configError({ SMTP_MAX_MESSAGE_BYTES: 'lots' }), 'SMTP_MAX_MESSAGE_BYTES');
  });

  test('DATABASE_URL of another scheme', () => {
    assertNames(configError({ DATABASE_URL: 'mysql://u@h/db' }), 'DATABASE_URL');
  });

  test('LOG_LEVEL not a pino level', () => {
    assertNames(configError({ LOG_LEVEL: 'verbose' }), 'LOG_LEVEL');
  });

  test('the first invalid variable is named, in one line starting "Invalid configuration"', () => {
    const err = configError({ SMTP_PORT: 'abc' });
    assert.match(err.message, /^Invalid configuration: SMTP_PORT /);
    assert.equal(err.name, 'ConfigError');
  });
});

describe('loadConfig *_FILE variants', () => {
  let dir: { dir: string; cleanup(): void };
  const file = (name: string, content: string) => {
    const p = path.join(dir.dir, name);
    writeFileSync(p, content);
    return p;
  };
  before(() => {
    dir = tempDir('pe-config-');
  });
  after(() => dir.cleanup());

  test('X_FILE is read and trimmed', () => {
    const c = loadConfig({
      SMTP_PORT_FILE: file('port', ' 2526\n'),
      DATABASE_URL_FILE: file('db', 'postgres://gateway:s3cret@db:5432/posteingang\n'),
    });
    assert.equal(c.SMTP_PORT, 2526);
    assert.equal(c.DATABASE_URL, 'postgres://gateway:s3cret@db:5432/posteingang');
  });

  test('the direct variable wins over X_FILE', () => {
    assert.equal(loadConfig({ SMTP_PORT: '2600', SMTP_PORT_FILE: file('port2', '2601') }).SMTP_PORT, 2600);
  });

  test('an empty direct variable falls back to X_FILE', () => {
    assert.equal(loadConfig({ SMTP_PORT: '', SMTP_PORT_FILE: file('port3', '2602') }).SMTP_PORT, 2602);
  });

  test('content of X_FILE is validated like the variable', () => {
    assertNames(configError({ SMTP_PORT_FILE: file('bad', 'abc\n') }), 'SMTP_PORT');
  });

  test('an unreadable X_FILE names X_FILE', () => {
    assertNames(configError({ SMTP_PORT_FILE: path.join(dir.dir, 'missing') }), 'SMTP_PORT_FILE');
  });

  test('an empty X_FILE names X_FILE (and does not become port 0 or "no database")', () => {
    assertNames(configError({ SMTP_PORT_FILE: file('empty', '\n') }), 'SMTP_PORT_FILE');
    assertNames(configError({ DATABASE_URL_FILE: file('empty2', '') }), 'DATABASE_URL_FILE');
  });
});

describe('addressInNetworks', () => {
  const defaults = loadConfig({}).SMTP_ALLOWED_NETWORKS;

  test('::ffff:192.168.1.5 (IPv4-mapped) is inside 192.168.0.0/16', () => {
    const only = loadConfig({ SMTP_ALLOWED_NETWORKS: '192.168.0.0/16' }).SMTP_ALLOWED_NETWORKS;
    assert.ok(addressInNetworks('::ffff:192.168.1.5', only));
    assert.ok(addressInNetworks('::ffff:192.168.1.5', defaults));
    assert.ok(!addressInNetworks('::ffff:8.8.8.8', only));
  });

  test('8.8.8.8 is outside the default list', () => {
    assert.ok(!addressInNetworks('8.8.8.8', defaults));
  });

  test('prefix boundaries', () => {
    const nets = loadConfig({ SMTP_ALLOWED_NETWORKS: '198.51.100.64/26' }).SMTP_ALLOWED_NETWORKS;
    assert.ok(!addressInNetworks('198.51.100.63', nets));
    assert.ok(addressInNetworks('198.51.100.64', nets));
    assert.ok(addressInNetworks('198.51.100.127', nets));
    assert.ok(!addressInNetworks('198.51.100.128', nets));
  });

  test('an unparsable address is refused', () => {
    for (const bad of ['', 'not-an-ip', '999.1.1.1', 'localhost', '192.168.1.5.6']) assert.ok(!addressInNetworks(bad, defaults), bad);
  });

  test('DEFAULT_ALLOWED_NETWORKS is what loadConfig uses without the variable', () => {
    const explicit = loadConfig({ SMTP_ALLOWED_NETWORKS: DEFAULT_ALLOWED_NETWORKS }).SMTP_ALLOWED_NETWORKS;
    assert.deepEqual(
      explicit.map(([r, b]) => `${r.toString()}/${b}`),
      defaults.map(([r, b]) => `${r.toString()}/${b}`),
    );
  });
});

describe('HTTP_TRUST_PROXY: the reverse proxies whose X-Forwarded-* headers are believed', () => {
  const ranges = (value?: string) =>
    loadConfig(value === undefined ? {} : { HTTP_TRUST_PROXY: value }).HTTP_TRUST_PROXY.map(([r, b]) => `${r.toString()}/${b}`);

  test('unset and false trust nobody; true is loopback only', () => {
    assert.deepEqual(ranges(), []);
    for (const no of ['false', 'no', '0', 'off', 'FALSE']) assert.deepEqual(ranges(no), [], no);
    for (const yes of ['true', 'yes', '1', 'on', 'True']) assert.deepEqual(ranges(yes), ['127.0.0.0/8', '::1/128'], yes);
    const loopback = loadConfig({ HTTP_TRUST_PROXY: 'true' }).HTTP_TRUST_PROXY;
    assert.ok(addressInNetworks('127.0.0.1', loopback));
    assert.ok(addressInNetworks('::ffff:127.0.0.1', loopback));
    assert.ok(addressInNetworks('::1', loopback));
    assert.ok(!addressInNetworks('10.0.0.1', loopback));
  });

  test('a list of addresses (one host each) and CIDR ranges', () => {
    assert.deepEqual(ranges('10.0.0.5, 2001:db8::/32,192.168.7.0/24, ::ffff:10.0.0.6'), ['10.0.0.5/32', '2001:db8::/32', '192.168.7.0/24', '10.0.0.6/32']);
    const list = loadConfig({ HTTP_TRUST_PROXY: '10.0.0.5' }).HTTP_TRUST_PROXY;
    assert.ok(addressInNetworks('10.0.0.5', list));
    assert.ok(!addressInNetworks('10.0.0.4', list));
  });

  test('anything else is refused naming HTTP_TRUST_PROXY and the bad part', () => {
    for (const bad of ['maybe', '10.1', '0x0a000001', '10.0.0.0/33', '10.0.0.0/', '10.0.0.0/8/1', 'proxy.example', '10.0.0.5,300.1.1.1', ' , ']) {
      const err = configError({ HTTP_TRUST_PROXY: bad });
      assertNames(err, 'HTTP_TRUST_PROXY');
      const part = bad.split(',').map((s) => s.trim()).find((p) => p && p !== '10.0.0.5');
      if (part) assert.ok(err.message.includes(`"${part}"`), err.message);
    }
  });
});
