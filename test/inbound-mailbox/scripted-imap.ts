/**
 * A small scripted IMAP4rev1 responder (node:net, cleartext) for server misbehaviour that a real
 * Dovecot does not show: Exchange answering a FETCH with no data, or with a substitute message.
 * It speaks just enough of RFC 3501 for imapflow: CAPABILITY, LOGIN, SELECT/EXAMINE, LIST,
 * UID SEARCH UID <set> (with the `n:*` rule of §6.4.8/§9), UID FETCH, UID STORE, NOOP, LOGOUT.
 * Every command line it receives is recorded.
 */
import net from 'node:net';

/** how a message's FETCH is answered; `refuse`: any UID FETCH that touches it gets a tagged NO */
export type Behaviour = 'ok' | 'no-data' | 'uid-only' | 'substitute' | 'refuse';

export interface ScriptedMessage {
  uid: number;
  body: Buffer;
  behaviour: Behaviour;
  flags: Set<string>;
}

export interface ScriptedServer {
  port: number;
  uidValidity: number;
  messages: ScriptedMessage[];
  /** every command line received (tag included), in order */
  commands: string[];
  /** UIDs whose BODY.PEEK[] was requested, in order */
  downloads: number[];
  /** [uid, flags] of each STORE, in order */
  stores: Array<[number, string]>;
  close(): Promise<void>;
}

/** The substitute Exchange sends for a message it cannot convert (as seen from Exchange 2010–2019). */
export function exchangeSubstitute(uid: number): Buffer {
  return Buffer.from(
    [
      'From: Microsoft Exchange Server',
      'To: scan@agency.example',
      `Subject: Retrieval using the IMAP4 protocol failed for the following message: ${uid}`,
      'Date: Tue, 02 Mar 2021 10:00:00 +0100',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=us-ascii',
      '',
      'The server couldn\'t retrieve the following message:',
      '',
      'Subject: "Scan"',
      '',
      'The message hasn\'t been deleted. You might be able to view it using Outlook or Outlook Web App.',
      '',
    ].join('\r\n'),
  );
}

/** Parses an RFC 3501 sequence set of UIDs (`1:3,7,9:*`) against the UIDs present. */
export function matchUidSet(set: string, present: number[]): number[] {
  const max = present.length ? Math.max(...present) : 0;
  const num = (s: string) => (s === '*' ? max : Number(s));
  const out = new Set<number>();
  for (const part of set.split(',')) {
    const [a, b] = part.split(':');
    const lo = Math.min(num(a!), num(b ?? a!));
    const hi = Math.max(num(a!), num(b ?? a!));
    for (const uid of present) if (uid >= lo && uid <= hi) out.add(uid);
  }
  return [...out].sort((x, y) => x - y);
}

export interface ScriptedOptions {
  /** capabilities after IMAP4rev1 (default: UIDPLUS) */
  capabilities?: string[];
  uidValidity?: number;
  user: string;
  password: string;
}

/** Starts the responder on 127.0.0.1 (a free port) serving `messages` in INBOX. */
export async function startScriptedImap(messages: ScriptedMessage[], opts: ScriptedOptions): Promise<ScriptedServer> {
  const state: Omit<ScriptedServer, 'port' | 'close'> = {
    uidValidity: opts.uidValidity ?? 42,
    messages,
    commands: [],
    downloads: [],
    stores: [],
  };
  const caps = ['IMAP4rev1', ...(opts.capabilities ?? ['UIDPLUS'])].join(' ');
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffer = '';
    let selected = false;
    const send = (s: string | Buffer) => socket.write(s);
    const seqOf = (uid: number) => state.messages.findIndex((m) => m.uid === uid) + 1;
    send(`* OK [CAPABILITY ${caps}] The Microsoft Exchange IMAP4 service is ready.\r\n`);
    const handle = (line: string) => {
      state.commands.push(line);
      const m = /^(\S+) (?:(UID) )?(\S+)(?: (.*))?$/i.exec(line);
      if (!m) return send(`* BAD Command Error. 10\r\n`);
      const [, tag, uidPrefix, cmd, args = ''] = m;
      const command = `${uidPrefix ? 'UID ' : ''}${cmd!.toUpperCase()}`;
      const uids = state.messages.map((x) => x.uid);
      switch (command) {
        case 'CAPABILITY':
          send(`* CAPABILITY ${caps}\r\n${tag} OK CAPABILITY completed.\r\n`);
          return;
        case 'NOOP':
          send(`${tag} OK NOOP completed.\r\n`);
          return;
        case 'LOGOUT':
          send(`* BYE Microsoft Exchange Server IMAP4 server signing off.\r\n${tag} OK LOGOUT completed.\r\n`);
          socket.end();
          return;
        case 'LOGIN': {
          const words = [...args.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((w) => (w[1] !== undefined ? w[1].replace(/\\(.)/g, '$1') : w[2]!));
          if (words[0] === opts.user && words[1] === opts.password) send(`${tag} OK LOGIN completed.\r\n`);
          else send(`${tag} NO LOGIN failed.\r\n`);
          return;
        }
        case 'LIST':
          // RFC 3501 §6.3.8: an empty pattern asks for the hierarchy delimiter and root name
          if (/""\s*$/.test(args)) send(`* LIST (\\Noselect) "/" ""\r\n${tag} OK LIST completed.\r\n`);
          else send(`* LIST (\\Marked \\HasNoChildren) "/" INBOX\r\n${tag} OK LIST completed.\r\n`);
          return;
        case 'SELECT':
        case 'EXAMINE': {
          if (!/^"?INBOX"?$/i.test(args.trim())) {
            send(`${tag} NO [NONEXISTENT] The requested item could not be found.\r\n`);
            return;
          }
          selected = true;
          const uidNext = (uids.length ? Math.max(...uids) : 0) + 1;
          send(
            `* ${state.messages.length} EXISTS\r\n* 0 RECENT\r\n* FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $MDNSent)\r\n` +
              `* OK [PERMANENTFLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $MDNSent)] Permanent flags\r\n` +
              `* OK [UIDVALIDITY ${state.uidValidity}] UIDVALIDITY value\r\n* OK [UIDNEXT ${uidNext}] The next unique identifier value\r\n` +
              `${tag} OK [${command === 'SELECT' ? 'READ-WRITE' : 'READ-ONLY'}] ${command} completed.\r\n`,
          );
          return;
        }
        case 'UID SEARCH': {
          if (!selected) return send(`${tag} BAD Command received in Invalid state.\r\n`);
          const set = /UID (\S+)/i.exec(args)?.[1];
          const found = set ? matchUidSet(set, uids) : uids;
          send(`* SEARCH${found.map((u) => ` ${u}`).join('')}\r\n${tag} OK SEARCH completed.\r\n`);
          return;
        }
        case 'UID FETCH': {
          if (!selected) return send(`${tag} BAD Command received in Invalid state.\r\n`);
          const [set, ...rest] = args.split(' ');
          const items = rest.join(' ').toUpperCase();
          if (matchUidSet(set!, uids).some((uid) => state.messages.find((x) => x.uid === uid)!.behaviour === 'refuse')) {
            send(`${tag} NO The specified message set is invalid.\r\n`);
            return;
          }
          for (const uid of matchUidSet(set!, uids)) {
            const msg = state.messages.find((x) => x.uid === uid)!;
            const seq = seqOf(uid);
            if (items.includes('BODY.PEEK[]') || items.includes('BODY[]')) {
              state.downloads.push(uid);
              if (msg.behaviour === 'no-data') continue;
              if (msg.behaviour === 'uid-only') {
                send(`* ${seq} FETCH (UID ${uid})\r\n`);
                continue;
              }
              const bytes = msg.behaviour === 'substitute' ? exchangeSubstitute(uid) : msg.body;
              send(`* ${seq} FETCH (UID ${uid} BODY[] {${bytes.length}}\r\n`);
              send(bytes);
              send(`)\r\n`);
              continue;
            }
            const parts = [`UID ${uid}`];
            if (items.includes('RFC822.SIZE')) parts.push(`RFC822.SIZE ${msg.body.length}`);
            if (items.includes('INTERNALDATE')) parts.push(`INTERNALDATE "02-Mar-2021 10:00:00 +0100"`);
            if (items.includes('FLAGS')) parts.push(`FLAGS (${[...msg.flags].join(' ')})`);
            send(`* ${seq} FETCH (${parts.join(' ')})\r\n`);
          }
          send(`${tag} OK FETCH completed.\r\n`);
          return;
        }
        case 'UID STORE': {
          const mm = /^(\S+) ([+-]?FLAGS(?:\.SILENT)?) \(([^)]*)\)/i.exec(args);
          if (!mm) return send(`${tag} BAD Command Argument Error. 11\r\n`);
          for (const uid of matchUidSet(mm[1]!, uids)) {
            const msg = state.messages.find((x) => x.uid === uid)!;
            state.stores.push([uid, mm[3]!]);
            for (const f of mm[3]!.split(' ').filter(Boolean)) msg.flags.add(f);
            if (!/SILENT/i.test(mm[2]!)) send(`* ${seqOf(uid)} FETCH (UID ${uid} FLAGS (${[...msg.flags].join(' ')}))\r\n`);
          }
          send(`${tag} OK STORE completed.\r\n`);
          return;
        }
        default:
          send(`${tag} BAD Command Error. 10\r\n`);
      }
    };
    socket.on('data', (d: Buffer) => {
      buffer += d.toString('latin1');
      let i: number;
      while ((i = buffer.indexOf('\r\n')) >= 0) {
        const line = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        handle(line);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(state, {
    port: (server.address() as net.AddressInfo).port,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}
