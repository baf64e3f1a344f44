// Validates compose.yaml with the Compose tool itself (`docker compose config`, or the older
// `docker-compose config`); no Docker engine is needed. The tool is a test dependency
// (scripts/install-test-deps.sh): when neither is installed this test fails, it does not skip.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { before, beforeEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PASSWORD = 'compose-test-pw';

/** The environment Compose interpolates from: ours, with a known password and no stray overrides. */
function composeEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, POSTGRES_PASSWORD: PASSWORD };
  for (const k of Object.keys(env)) if (k.startsWith('COMPOSE_')) delete env[k];
  return env;
}

function run(cmd: string, args: string[], input?: string) {
  return spawnSync(cmd, args, { cwd: ROOT, env: composeEnv(), encoding: 'utf8', input, timeout: 60_000 });
}

/** Path of the executable `name` on PATH, or null. */
function which(name: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/**
 * The resolved configuration as a plain object.
 * Compose v2 prints JSON itself; v1 (Python) prints YAML, read back with the PyYAML that the
 * docker-compose program itself runs on (the interpreter of its `#!` line).
 */
function composeConfig(): { tool: string; config: ComposeConfig } {
  const docker = which('docker');
  if (docker && run(docker, ['compose', 'version']).status === 0) {
    const r = run(docker, ['compose', '-f', 'compose.yaml', 'config', '--format', 'json']);
    assert.equal(r.status, 0, `docker compose config failed:\n${r.stderr}`);
    return { tool: 'docker compose', config: JSON.parse(r.stdout) as ComposeConfig };
  }
  const v1 = which('docker-compose');
  assert.ok(
    v1,
    'neither `docker compose` nor `docker-compose` is installed: run scripts/install-test-deps.sh (Debian package docker-compose)',
  );
  const r = run(v1, ['-f', 'compose.yaml', 'config']);
  assert.equal(r.status, 0, `docker-compose config failed:\n${r.stderr}`);
  const shebang = readFileSync(v1, 'utf8').split('\n', 1)[0]!;
  const python = /^#!\s*(\S+)/.exec(shebang)?.[1] ?? 'python3';
  const j = run(python, ['-c', 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'], r.stdout);
  assert.equal(j.status, 0, `reading the YAML of docker-compose config failed:\n${j.stderr}`);
  return { tool: 'docker-compose', config: JSON.parse(j.stdout) as ComposeConfig };
}

interface Port {
  target: number | string;
  published?: number | string;
}
interface Volume {
  type?: string;
  source?: string;
  target?: string;
}
interface Service {
  image?: string;
  build?: string | { context: string; dockerfile?: string };
  environment?: Record<string, string | null>;
  ports?: (Port | string)[];
  volumes?: (Volume | string)[];
  depends_on?: Record<string, { condition?: string }> | string[];
  healthcheck?: { test?: string | string[] };
  deploy?: { replicas?: number };
}
interface ComposeConfig {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

/** Ports as {published, target} numbers (v1 and v2 print them differently). */
function ports(s: Service): { published: number; target: number }[] {
  return (s.ports ?? []).map((p) => {
    if (typeof p === 'string') {
      const parts = p.split(':');
      return { published: Number(parts.at(-2)), target: Number(parts.at(-1)) };
    }
    return { published: Number(p.published), target: Number(p.target) };
  });
}

/** Volume mounts as {source, target} (short syntax `source:target[:mode]` or long syntax). */
function mounts(s: Service): { source: string; target: string }[] {
  return (s.volumes ?? []).map((v) => {
    if (typeof v === 'string') {
      const [source, target] = v.split(':');
      return { source: source!, target: target! };
    }
    return { source: v.source ?? '', target: v.target ?? '' };
  });
}

describe('compose.yaml', () => {
  let config: ComposeConfig;
  let gateways: [string, Service][];
  let failure: unknown;

  before(() => {
    try {
      config = composeConfig().config;
      gateways = Object.entries(config.services).filter(([name]) => name !== 'postgres');
    } catch (err) {
      failure = err; // reported by every test below, so a missing tool shows as failures
    }
  });
  beforeEach(() => {
    if (failure) throw failure;
  });

  test('the Compose tool accepts compose.yaml', () => {
    assert.ok(config.services, 'services');
  });

  test('has a postgres service and gateway services built from this directory', () => {
    assert.ok(config.services.postgres, 'service postgres');
    assert.ok(gateways.length >= 1, 'at least one gateway service');
    for (const [name, s] of gateways) {
      const context = typeof s.build === 'string' ? s.build : s.build?.context;
      assert.ok(context, `${name} is built`);
      assert.equal(path.resolve(ROOT, context), ROOT, `${name} is built from the repository root`);
      const dockerfile = typeof s.build === 'object' ? s.build.dockerfile : undefined;
      assert.ok(dockerfile === undefined || dockerfile === 'Dockerfile', `${name} uses ./Dockerfile`);
    }
  });

  test('postgres: image postgres:16, pg_isready healthcheck, data on a named volume', () => {
    const pg = config.services.postgres!;
    assert.equal(pg.image, 'postgres:16');
    const check = pg.healthcheck?.test;
    assert.ok(check, 'postgres has a healthcheck');
    assert.match(Array.isArray(check) ? check.join(' ') : check, /pg_isready/);
    const data = mounts(pg).find((m) => m.target === '/var/lib/postgresql/data');
    assert.ok(data, 'the data directory is a volume');
    assert.ok(config.volumes && data.source in config.volumes, `${data.source} is a named volume`);
  });

  test('two gateway processes run against the one PostgreSQL database', () => {
    const count = gateways.reduce((n, [, s]) => n + (s.deploy?.replicas ?? 1), 0);
    assert.ok(count >= 2, `two gateways (found ${count})`);
  });

  test('each gateway: DATABASE_URL points to the postgres service with its user, password and database', () => {
    const pgEnv = config.services.postgres!.environment ?? {};
    const user = pgEnv.POSTGRES_USER ?? 'postgres';
    const db = pgEnv.POSTGRES_DB ?? user;
    assert.equal(pgEnv.POSTGRES_PASSWORD, PASSWORD, 'the password is taken from POSTGRES_PASSWORD');
    for (const [name, s] of gateways) {
      const raw = s.environment?.DATABASE_URL;
      assert.ok(raw, `${name} sets DATABASE_URL`);
      const url = new URL(raw);
      assert.match(url.protocol, /^postgres(ql)?:$/, name);
      assert.equal(url.hostname, 'postgres', `${name}: the host is the postgres service`);
      assert.ok(url.port === '' || url.port === '5432', `${name}: port 5432`);
      assert.equal(decodeURIComponent(url.username), user, `${name}: user`);
      assert.equal(decodeURIComponent(url.password), PASSWORD, `${name}: password`);
      assert.equal(url.pathname, `/${db}`, `${name}: database`);
      const dep = s.depends_on;
      assert.ok(dep && !Array.isArray(dep), `${name} depends on postgres with a condition`);
      assert.equal(dep.postgres?.condition, 'service_healthy', `${name} waits for postgres to be healthy`);
    }
  });

  test('each gateway: DATA_DIR=/data on a volume; SMTP 2525 and HTTP 8080 in the container, published on distinct host ports', () => {
    const published: number[] = [];
    for (const [name, s] of gateways) {
      assert.equal(s.environment?.DATA_DIR, '/data', `${name}: DATA_DIR`);
      assert.ok(mounts(s).some((m) => m.target === '/data'), `${name}: /data is a volume`);
      const smtp = Number(s.environment?.SMTP_PORT ?? 2525);
      const http = Number(s.environment?.HTTP_PORT ?? 8080);
      assert.deepEqual([smtp, http], [2525, 8080], `${name}: container ports`);
      const p = ports(s);
      assert.ok(p.some((x) => x.target === 2525), `${name}: SMTP port published`);
      assert.ok(p.some((x) => x.target === 8080), `${name}: HTTP port published`);
      published.push(...p.map((x) => x.published));
    }
    assert.ok(published.every((n) => Number.isInteger(n) && n > 0), 'fixed host ports');
    assert.equal(new Set(published).size, published.length, `no host port is published twice: ${published.join(', ')}`);
    assert.ok(published.includes(2525) && published.includes(8080), 'the first gateway on host ports 2525 and 8080');
  });
});

describe('Dockerfile', () => {
  test('the Dockerfile builds on node:20-bookworm-slim with npm ci and runs serve', () => {
    const text = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
    const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    assert.equal(lines.filter((l) => /^FROM\s/i.test(l)).at(-1), 'FROM node:20-bookworm-slim');
    assert.ok(lines.some((l) => /^RUN\s.*\bnpm ci\b/.test(l)), 'npm ci');
    const cmd = lines.filter((l) => /^CMD\s/.test(l)).at(-1);
    assert.ok(cmd, 'a CMD');
    const argv = JSON.parse(cmd.slice(3).trim()) as string[];
    assert.equal(argv.at(-1), 'serve');
    const entry = argv.find((a) => a.endsWith('.ts') || a.endsWith('.js'));
    assert.ok(entry, 'the CMD names the entry file');
    assert.doesNotThrow(() => readFileSync(path.join(ROOT, entry)), `${entry} exists`);
    const ignored = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    assert.ok(ignored.includes('node_modules'), 'node_modules is not sent to the build (npm ci installs)');
    for (const needed of ['src', 'drizzle', 'package.json', 'package-lock.json', 'bin']) {
      assert.ok(!ignored.includes(needed), `${needed} is part of the build context`);
    }
  });
});
