/**
 * A small POP3 client (RFC 1939, STLS from RFC 2595, response codes from RFC 2449 §8) that keeps
 * message bytes as bytes.
 *
 * Why not node-pop3 (0.11): its RETR/TOP return a UTF-8 string (8-bit Latin-1 headers are
 * destroyed); its multi-line reader only looks at the last 5 bytes of each chunk, so a response
 * whose final CRLF "." CRLF is split across TCP reads never ends, and a chunk that is "." alone ends
 * it early; dot-stuffing is not removed; a status line split across reads is misparsed; a socket
 * error while a body is streamed is emitted as an unhandled 'error' event (a crash), and a
 * connection closed during RETR leaves the command pending for ever; `command()` trims the line
 * (a password ending in a space is altered); there is no STLS. Its parser is a closure inside
 * `connect()`, so fixing all of that would mean replacing everything but the socket set-up;
 * this module does that in one place instead.
 */
import net from 'node:net';
import { Readable } from 'node:stream';
import tls, { type ConnectionOptions } from 'node:tls';
import { DotUnstuffer } from './dot-unstuffer.js';

/** A `-ERR` answer. `text` is what the server said after "-ERR ". */
export class Pop3Error extends Error {
  readonly responseText: string;
  constructor(
    readonly command: string,
    readonly text: string,
  ) {
    super(`${command}: -ERR ${text}`);
    this.name = 'Pop3Error';
    this.responseText = `-ERR ${text}`;
  }
}

/** The server broke the protocol (an answer that is neither +OK nor -ERR, a status line over 8 KiB, bytes after +OK to STLS). */
export class Pop3ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Pop3ProtocolError';
  }
}

export interface Pop3ConnectOptions {
  host: string;
  port: number;
  /** milliseconds allowed for the TCP connection */
  connectTimeoutMs?: number;
  /** milliseconds of silence allowed while waiting for the server (each answer, each part of a body) */
  timeoutMs?: number;
}

interface Pending {
  command: string;
  multiline: boolean;
  resolve(value: { text: string; body: Readable | null }): void;
  reject(err: Error): void;
}

const MAX_LINE = 8192;

/** A timeout as `describeMailboxError` recognises it (code ETIMEDOUT). */
function timeoutError(what: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`timed out ${what}`);
  err.code = 'ETIMEDOUT';
  return err;
}

/**
 * One POP3 session. Commands run one at a time (no pipelining); a multi-line body must be read to
 * its end (or the session closed) before the next command.
 */
export class Pop3Client {
  private socket: net.Socket;
  private rx: Buffer = Buffer.alloc(0);
  private pending: Pending | null = null;
  private body: { stream: Readable; unstuffer: DotUnstuffer } | null = null;
  private failure: Error | null = null;
  private readonly timeoutMs: number;
  private readonly onData = (chunk: Buffer) => this.receive(chunk);
  private readonly onError = (err: Error) => this.fail(err);
  private readonly onClose = () => this.fail(Object.assign(new Error('the server closed the connection'), { code: 'ECONNRESET' }));
  private readonly onTimeout = () => {
    this.fail(timeoutError('waiting for the server'));
    this.socket.destroy();
  };

  private constructor(
    socket: net.Socket,
    private readonly host: string,
    timeoutMs: number,
  ) {
    this.socket = socket;
    this.timeoutMs = timeoutMs;
    this.attach(socket);
  }

  /**
   * Opens the TCP connection (no TLS yet, no greeting read).
   * @throws the socket error (ECONNREFUSED, ENOTFOUND…) or ETIMEDOUT
   */
  static async connect(opts: Pop3ConnectOptions): Promise<Pop3Client> {
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const socket = net.connect({ host: opts.host, port: opts.port });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(timeoutError(`connecting to ${opts.host}:${opts.port}`));
      }, opts.connectTimeoutMs ?? 15_000);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve();
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    socket.setKeepAlive(true, 30_000);
    return new Pop3Client(socket, opts.host, timeoutMs);
  }

  /** true once the connection failed or was closed */
  get closed(): boolean {
    return this.failure !== null;
  }

  /** TLS version in use ("TLSv1.3"), or null on a plain connection. */
  get tlsProtocol(): string | null {
    return this.socket instanceof tls.TLSSocket ? this.socket.getProtocol() : null;
  }

  /**
   * Starts TLS on the connection: right after `connect()` for implicit TLS (port 995), or after a
   * successful STLS (`stls()`).
   * @param options Node TLS options (see mailboxTlsOptions): certificate checks, CA, versions
   * @throws the handshake error (untrusted certificate, protocol version…)
   */
  async startTls(options: ConnectionOptions): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.rx.length > 0) {
      // RFC 2595 §4 / CVE-2011-0411 class: nothing may be buffered from before the handshake
      throw new Pop3ProtocolError('the server sent data before the TLS handshake');
    }
    const plain = this.socket;
    this.detach(plain);
    plain.on('error', () => {}); // reported through the TLS socket
    // `host` for the certificate's name check when no SNI name is set (an IP address)
    const secure = tls.connect({ host: this.host, ...options, socket: plain });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        secure.destroy();
        reject(timeoutError('in the TLS handshake'));
      }, this.timeoutMs);
      secure.once('secureConnect', () => {
        clearTimeout(timer);
        secure.removeAllListeners('error');
        resolve();
      });
      secure.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    }).catch((err) => {
      this.failure = err;
      secure.destroy();
      plain.destroy();
      throw err;
    });
    this.socket = secure;
    this.attach(secure);
  }

  /**
   * Reads the server greeting (RFC 1939 §4).
   * @returns its text after "+OK "
   * @throws Pop3Error when the server greets with -ERR
   */
  greeting(): Promise<string> {
    return this.request(null, false).then((r) => r.text);
  }

  /**
   * Sends one command and reads its single-line answer.
   * @param line the command without CRLF, sent as UTF-8 exactly as given
   * @returns the text after "+OK "
   * @throws Pop3Error on -ERR; the socket error, ETIMEDOUT or "closed" when the connection fails
   */
  async command(line: string): Promise<string> {
    return (await this.request(line, false)).text;
  }

  /**
   * Sends a command whose +OK answer is followed by a multi-line body (RETR, TOP, UIDL, LIST, CAPA).
   * @returns the status text and the body as a byte stream, dot-stuffing removed, terminator not
   *   included; the stream errors when the connection fails before the terminator
   */
  async multiline(line: string): Promise<{ text: string; body: Readable }> {
    const r = await this.request(line, true);
    return { text: r.text, body: r.body! };
  }

  /** Like `multiline`, collected into one Buffer (for small answers: UIDL, LIST, TOP n 0). */
  async multilineBuffer(line: string): Promise<Buffer> {
    const { body } = await this.multiline(line);
    const parts: Buffer[] = [];
    for await (const chunk of body as AsyncIterable<Buffer>) parts.push(chunk);
    return Buffer.concat(parts);
  }

  /**
   * RFC 1939 §7 USER/PASS. The user name and password are sent exactly as given.
   * @throws Error (without sending anything) when either contains CR or LF; Pop3Error on -ERR
   */
  async login(user: string, password: string): Promise<void> {
    if (/[\r\n]/.test(user) || /[\r\n]/.test(password)) throw new Error('the user name or password contains a line break');
    await this.command(`USER ${user}`);
    await this.command(`PASS ${password}`);
  }

  /** RFC 2595 §4: STLS, then the TLS handshake. @throws Pop3Error when the server refuses STLS */
  async stls(options: ConnectionOptions): Promise<void> {
    await this.command('STLS');
    await this.startTls(options);
  }

  /** RFC 1939 §5 STAT. @returns number of messages and their total size in octets */
  async stat(): Promise<{ count: number; size: number }> {
    const text = await this.command('STAT');
    const m = /^(\d+)\s+(\d+)/.exec(text);
    if (!m) throw new Pop3ProtocolError(`unexpected answer to STAT: ${text.slice(0, 100)}`);
    return { count: Number(m[1]), size: Number(m[2]) };
  }

  /** RFC 1939 §5 LIST. @returns message number → size in octets */
  async list(): Promise<Map<number, number>> {
    const map = new Map<number, number>();
    for (const [n, v] of this.pairs(await this.multilineBuffer('LIST'))) map.set(n, Number(v));
    return map;
  }

  /**
   * RFC 1939 §7 UIDL. @returns message number → unique-id, or null when the server does not
   * support UIDL (it answered -ERR)
   */
  async uidl(): Promise<Map<number, string> | null> {
    let raw: Buffer;
    try {
      raw = await this.multilineBuffer('UIDL');
    } catch (err) {
      if (err instanceof Pop3Error) return null;
      throw err;
    }
    return new Map(this.pairs(raw));
  }

  /** RFC 1939 §7 TOP msg n. @returns the header, the empty line and `lines` body lines, as bytes */
  top(msg: number, lines: number): Promise<Buffer> {
    return this.multilineBuffer(`TOP ${msg} ${lines}`);
  }

  /** RFC 1939 §5 RETR. @returns the message bytes as a stream (read it to the end before the next command) */
  async retr(msg: number): Promise<Readable> {
    return (await this.multiline(`RETR ${msg}`)).body;
  }

  /** RFC 1939 §5 DELE: marks a message; it is removed only when QUIT succeeds (§6). */
  async dele(msg: number): Promise<void> {
    await this.command(`DELE ${msg}`);
  }

  /** RFC 1939 §6 QUIT: the server removes the messages marked with DELE, then closes. */
  async quit(): Promise<void> {
    try {
      await this.command('QUIT');
    } finally {
      this.close();
    }
  }

  /** Closes the connection at once (no QUIT: marked messages stay on the server). */
  close(): void {
    if (!this.failure) this.failure = Object.assign(new Error('the connection was closed'), { code: 'ECONNRESET' });
    this.socket.destroy();
  }

  private pairs(raw: Buffer): [number, string][] {
    const out: [number, string][] = [];
    for (const line of raw.toString('latin1').split('\r\n')) {
      const m = /^(\d+)\s+(\S+)/.exec(line);
      if (m) out.push([Number(m[1]), m[2]!]);
    }
    return out;
  }

  private attach(socket: net.Socket): void {
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    socket.setTimeout(this.timeoutMs, this.onTimeout);
  }

  private detach(socket: net.Socket): void {
    socket.off('data', this.onData);
    socket.off('error', this.onError);
    socket.off('close', this.onClose);
    socket.setTimeout(0);
    socket.off('timeout', this.onTimeout);
  }

  private request(line: string | null, multiline: boolean): Promise<{ text: string; body: Readable | null }> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending || this.body) return Promise.reject(new Error('Pop3Client: a command is still running'));
    return new Promise((resolve, reject) => {
      const command = line === null ? 'greeting' : line.startsWith('PASS ') ? 'PASS' : line;
      this.pending = { command, multiline, resolve, reject };
      if (line !== null) this.socket.write(`${line}\r\n`, 'utf8');
      // answers that arrived before the command was sent (a greeting read late) are in rx
      if (this.rx.length > 0) this.receive(Buffer.alloc(0));
    });
  }

  private receive(chunk: Buffer): void {
    let data = this.rx.length > 0 ? Buffer.concat([this.rx, chunk]) : chunk;
    this.rx = Buffer.alloc(0);
    while (data.length > 0) {
      if (this.body) {
        const { stream, unstuffer } = this.body;
        const { out, rest } = unstuffer.feed(data);
        for (const part of out) if (part.length > 0 && !stream.push(part)) this.socket.pause();
        if (rest === null) return;
        this.body = null;
        stream.push(null);
        this.socket.resume(); // it may have been paused for a slow reader; the next answer must flow
        data = rest;
        continue;
      }
      if (!this.pending) {
        // nothing asked: keep it for the next command (a greeting) unless it grows unreasonably
        this.rx = data;
        if (this.rx.length > MAX_LINE) this.fail(new Pop3ProtocolError('the server sent data nobody asked for'));
        return;
      }
      const eol = data.indexOf('\r\n');
      if (eol < 0) {
        this.rx = data;
        if (this.rx.length > MAX_LINE) this.fail(new Pop3ProtocolError('the server sent a status line longer than 8 KiB'));
        return;
      }
      const line = data.subarray(0, eol).toString('latin1');
      data = data.subarray(eol + 2);
      const pending = this.pending;
      this.pending = null;
      if (line.startsWith('+OK')) {
        const text = line.slice(3).replace(/^ /, '');
        if (pending.multiline) {
          const socket = this.socket;
          const stream = new Readable({ read: () => socket.resume() });
          this.body = { stream, unstuffer: new DotUnstuffer() };
          pending.resolve({ text, body: stream });
        } else pending.resolve({ text, body: null });
      } else if (line.startsWith('-ERR')) {
        pending.reject(new Pop3Error(pending.command, line.slice(4).replace(/^ /, '')));
      } else {
        const err = new Pop3ProtocolError(`unexpected answer to ${pending.command}: ${line.slice(0, 100)}`);
        pending.reject(err);
        this.fail(err);
        return;
      }
    }
  }

  private fail(err: Error): void {
    if (!this.failure) this.failure = err;
    const pending = this.pending;
    this.pending = null;
    pending?.reject(err);
    const body = this.body;
    this.body = null;
    body?.stream.destroy(err);
    if (!this.socket.destroyed) this.socket.destroy();
  }
}
