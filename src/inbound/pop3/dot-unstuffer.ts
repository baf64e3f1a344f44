const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const CR_BYTE = Buffer.from([CR]);

type State = 'lineStart' | 'dot' | 'dotCr' | 'mid' | 'cr';

/**
 * Reads the body of a POP3 multi-line response (RFC 1939 §3) byte for byte, however the bytes are
 * split into chunks: removes the byte-stuffing (a line that begins with "." had one "." prepended
 * by the server) and finds the terminating line "." (CRLF "." CRLF, where the first CRLF ends the
 * status line or the last line of the message and belongs to the message).
 *
 * Works on bytes only: nothing is decoded, so 8-bit headers (Latin-1) and NUL bytes pass unchanged.
 * Any chunk boundary is handled, including one inside CRLF "." CRLF and a chunk that is "." alone.
 */
export class DotUnstuffer {
  private state: State = 'lineStart';
  /** true once the terminating line has been read */
  done = false;

  /**
   * @param chunk the next bytes from the server (after the status line)
   * @returns `out`: the message bytes in this chunk (slices of `chunk`, in order); `rest`: null while
   *   the terminator has not been seen, else the bytes that followed it (normally empty)
   * @throws Error when called after the terminator
   */
  feed(chunk: Buffer): { out: Buffer[]; rest: Buffer | null } {
    if (this.done) throw new Error('DotUnstuffer: the response has ended');
    const out: Buffer[] = [];
    const n = chunk.length;
    let start = 0; // first byte of the run that is copied through unchanged
    let i = 0;
    while (i < n) {
      switch (this.state) {
        case 'lineStart':
          if (chunk[i] === DOT) {
            // either the stuffed "." of a line that begins with "." or the terminator: never content
            if (i > start) out.push(chunk.subarray(start, i));
            i++;
            start = i;
            this.state = 'dot';
          } else this.state = 'mid';
          break;
        case 'dot':
          if (chunk[i] === CR) {
            // "." CR at a line start: the terminator if LF follows; hold the CR back until we know
            i++;
            start = i;
            this.state = 'dotCr';
          } else this.state = 'mid'; // the dot was stuffing; this byte is content
          break;
        case 'dotCr':
          if (chunk[i] === LF) {
            this.done = true;
            if (i > start) out.push(chunk.subarray(start, i));
            return { out, rest: chunk.subarray(i + 1) };
          }
          // "." CR X: not the terminator, so the CR was content (the dot was stuffing)
          out.push(CR_BYTE);
          this.state = 'cr';
          break;
        case 'mid': {
          const cr = chunk.indexOf(CR, i);
          if (cr < 0) i = n;
          else {
            i = cr + 1;
            this.state = 'cr';
          }
          break;
        }
        case 'cr':
          if (chunk[i] === LF) {
            i++;
            this.state = 'lineStart';
          } else if (chunk[i] === CR) i++;
          else this.state = 'mid';
          break;
      }
    }
    if (n > start) out.push(chunk.subarray(start, n));
    return { out, rest: null };
  }
}

