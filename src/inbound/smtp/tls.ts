import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import type { SecureVersion } from 'node:tls';
import { generate } from 'selfsigned';
import { ConfigError, type Config } from '../../config.js';

/** The receiver's certificate and key, with what the admin is shown about it. */
export interface TlsMaterial {
  cert: string;
  key: string;
  /** SHA-256 fingerprint, colon-separated hex, as browsers and `openssl x509 -fingerprint -sha256` show it */
  fingerprint256: string;
  subject: string;
  validTo: string;
  selfSigned: boolean;
}

/** Node TLS options for the receiver's policy. */
export interface TlsPolicy {
  minVersion: SecureVersion;
  ciphers?: string;
}

/**
 * TLS 1.2 and newer by default. With `legacy`, TLS 1.0 and 1.1 are admitted too: OpenSSL 3
 * refuses them at its default security level, so the cipher list carries `@SECLEVEL=0`.
 */
export function tlsPolicy(legacy: boolean): TlsPolicy {
  return legacy ? { minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' } : { minVersion: 'TLSv1.2' };
}

function describe(cert: string, key: string, selfSigned: boolean): TlsMaterial {
  const x509 = new X509Certificate(cert);
  if (!x509.checkPrivateKey(createPrivateKey(key))) {
    throw new ConfigError('SMTP_TLS_KEY_FILE', 'does not belong to the certificate in SMTP_TLS_CERT_FILE');
  }
  return { cert, key, fingerprint256: x509.fingerprint256, subject: x509.subject, validTo: x509.validTo, selfSigned };
}

/**
 * The certificate for STARTTLS and the implicit-TLS port: the configured one (SMTP_TLS_CERT/KEY,
 * usually as *_FILE paths), else a self-signed one kept in `DATA_DIR/tls` (generated on first
 * start, renewed when it has expired), else none.
 * @returns null when TLS is not available (no certificate, self-signed generation off)
 * @throws ConfigError when the configured certificate or key cannot be read or do not match
 */
export async function loadTlsMaterial(config: Config): Promise<TlsMaterial | null> {
  if (config.SMTP_TLS_CERT && config.SMTP_TLS_KEY) {
    try {
      return describe(config.SMTP_TLS_CERT, config.SMTP_TLS_KEY, false);
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError('SMTP_TLS_CERT_FILE', `cannot be used: ${(err as Error).message}`);
    }
  }
  if (!config.SMTP_TLS_SELF_SIGNED) return null;
  const dir = path.join(config.dataDir, 'tls');
  const certFile = path.join(dir, 'self-signed.crt');
  const keyFile = path.join(dir, 'self-signed.key');
  if (existsSync(certFile) && existsSync(keyFile)) {
    const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    const material = describe(cert, key, true);
    if (new Date(material.validTo).getTime() > Date.now() + 24 * 3600 * 1000) return material;
  }
  const name = hostname();
  const now = new Date();
  const pems = await generate([{ name: 'commonName', value: name }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate: now,
    notAfterDate: new Date(now.getTime() + 5 * 365 * 24 * 3600 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 2, value: name }, { type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }] },
    ],
  });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(keyFile, pems.private, { mode: 0o600 });
  await writeFile(certFile, pems.cert, { mode: 0o644 });
  return describe(pems.cert, pems.private, true);
}
