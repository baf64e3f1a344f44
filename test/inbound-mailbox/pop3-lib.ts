/**
 * A scripted POP3 server (RFC 1939) for the misbehaviour Dovecot cannot produce: a final
 * CRLF "." CRLF split across TCP writes, a "." alone in one write, no UIDL, a RETR that fails,
 * TLS 1.0 only. Byte-stuffing is done here from RFC 1939 §3, independently of src/.
 */
import net from 'node:net';
import tls from 'node:tls';

export interface ScriptedOptions {
  /** the maildrop, message 1 first (CRLF line ends) */
  messages: Buffer[];
  /** answer UIDL (default) or -ERR it */
  uidl?: boolean;
  /** message numbers whose RETR is answered -ERR */
  retrErrors?: number[];
  /** writes one RETR answer (status line and body); default: one write */
  writeRetr?: (socket: net.Socket, wire: Buffer) => Promise<void>;
  /** serve implicit TLS with these options (e.g. pinned to TLS 1.0) */
  tls?: tls.TlsOptions;
  user?: string;
  password?: string;
}

export interface ScriptedServer {
  port: number;
  /** commands received, passwords masked, in order over all connections */
  commands: string[];
  /** message numbers (1-based) removed by a QUIT after DELE */
  deleted: number[];
  close(): Promise<void>;
}

/** RFC 1939 §3: prepend "." to each line that begins with "."; append the terminator line. */
export function stuffForWire(message: Buffer): Buffer {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos < message.length) {
    let end = message.indexOf('\r\n', pos);
    end = end < 0 ? message.length : end + 2;
    const line = message.subarray(pos, end);
    out.push(line[0] === 0x2e ? Buffer.concat([Buffer.from('.'), line]) : line);
    pos = end;
  }
  out.push(Buffer.from('.\r\n'));
  return Buffer.concat(out);
}

export const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writes `parts` one by one with `ms` between them (Nagle off), so that they arrive as separate reads. */
export async function writeInParts(socket: net.Socket, parts: Buffer[], ms = 30): Promise<void> {
  socket.setNoDelay(true);
  for (const [i, p] of parts.entries()) {
    if (i > 0) await pause(ms);
    await new Promise<void>((resolve, reject) => socket.write(p, (err) => (err ? reject(err) : resolve())));
  }
}

export async function startScriptedPop3(opts: ScriptedOptions): Promise<ScriptedServer> {
  const commands: string[] = [];
  const deleted: number[] = [];
  const user = opts.user ?? 'user';
  const password = opts.password ?? 'secret';
  const sockets = new Set<net.Socket>();
  const handler = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buf = '';
    let authed = false;
    let userGiven = '';
    const marked = new Set<number>();
    const live = () => opts.messages.map((m, i) => ({ n: i + 1, m })).filter((x) => !deleted.includes(x.n) && !marked.has(x.n));
    const say = (s: string) => socket.write(`${s}\r\n`);
    let chain = Promise.resolve();
    const handle = async (line: string) => {
      const [cmd = '', ...args] = line.split(' ');
      const verb = cmd.toUpperCase();
      commands.push(verb === 'PASS' ? 'PASS ***' : line);
      const n = Number(args[0]);
      const exists = Number.isInteger(n) && n >= 1 && n <= opts.messages.length && !deleted.includes(n) && !marked.has(n);
      if (verb === 'USER') {
        userGiven = args.join(' ');
        return say('+OK');
      }
      if (verb === 'PASS') {
        if (userGiven === user && args.join(' ') === password) {
          authed = true;
          return say('+OK logged in');
        }
        return say('-ERR [AUTH] invalid user name or password');
      }
      if (verb === 'QUIT') {
        for (const m of marked) deleted.push(m);
        say('+OK bye');
        socket.end();
        return;
      }
      if (!authed) return say('-ERR log in first');
      if (verb === 'STAT') return say(`+OK ${live().length} ${live().reduce((a, x) => a + x.m.length, 0)}`);
      if (verb === 'LIST') return say(`+OK\r\n${live().map((x) => `${x.n} ${x.m.length}\r\n`).join('')}.`);
      if (verb === 'UIDL') {
        if (opts.uidl === false) return say('-ERR UIDL not supported');
        return say(`+OK\r\n${live().map((x) => `${x.n} scripted-${x.n}\r\n`).join('')}.`);
      }
      if (verb === 'RETR') {
        if (!exists) return say('-ERR no such message');
        if (opts.retrErrors?.includes(n)) return say('-ERR [SYS/TEMP] cannot read that message');
        const wire = Buffer.concat([Buffer.from(`+OK ${opts.messages[n - 1]!.length} octets\r\n`), stuffForWire(opts.messages[n - 1]!)]);
        if (opts.writeRetr) return opts.writeRetr(socket, wire);
        socket.write(wire);
        return;
      }
      if (verb === 'DELE') {
        if (!exists) return say('-ERR no such message');
        marked.add(n);
        return say('+OK marked');
      }
      if (verb === 'NOOP') return say('+OK');
      if (verb === 'RSET') {
        marked.clear();
        return say('+OK');
      }
      return say('-ERR unknown command');
    };
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      let i: number;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        chain = chain.then(async () => {
          await handle(line);
        });
      }
    });
    say('+OK scripted POP3 ready');
  };
  const server = opts.tls ? tls.createServer(opts.tls, handler) : net.createServer(handler);
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    commands,
    deleted,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
