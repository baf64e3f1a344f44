/**
 * A historical uuencoder written from the POSIX description (`begin <mode> <name>`, 45 bytes a
 * line, a length character, 6-bit groups plus 0x20 with "`" for zero, then "`" and `end`), for
 * test inputs; test/unit/containers.test.ts checks it against Debian sharutils' output.
 * @param eol the line end to write
 * @returns the block, every line ended by `eol`
 */
export function uuencode(data: Buffer, name: string, eol = '\n'): Buffer {
  const char = (v: number) => (v === 0 ? '`' : String.fromCharCode(v + 0x20));
  let out = `begin 644 ${name}${eol}`;
  for (let at = 0; at < data.length; at += 45) {
    const line = data.subarray(at, at + 45);
    let text = char(line.length);
    for (let g = 0; g < line.length; g += 3) {
      const n = ((line[g] ?? 0) << 16) | ((line[g + 1] ?? 0) << 8) | (line[g + 2] ?? 0);
      text += char((n >> 18) & 63) + char((n >> 12) & 63) + char((n >> 6) & 63) + char(n & 63);
    }
    out += text + eol;
  }
  return Buffer.from(`${out}\`${eol}end${eol}`, 'utf8');
}
