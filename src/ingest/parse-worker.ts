// A parse worker thread (parse-pool.ts): parses messages handed over by location and answers
// with the outcome, attachments by location as well (their spool files then belong to the
// gateway's thread, which removes them after the commit).
import { parentPort } from 'node:worker_threads';
import { errorToWire } from '../threads/wire.js';
import { parseForIngest } from './parse-step.js';
import { rawAt, type RawLocation, type RawMessage } from './raw.js';
import type { ParseReply, ParseRequest } from './parse-pool.js';

const port = parentPort!;

/** Where an attachment's bytes are; one without a location (none is made so today) is read into memory. */
async function locate(content: RawMessage): Promise<RawLocation> {
  if (content.location) return content.location;
  const parts: Buffer[] = [];
  for await (const chunk of content.open() as AsyncIterable<Buffer>) parts.push(chunk);
  return { kind: 'memory', bytes: Buffer.concat(parts) };
}

async function answer(request: ParseRequest): Promise<ParseReply> {
  const outcome = await parseForIngest(rawAt(request.raw.location, request.raw.size, request.raw.sha256), request.spoolDir);
  const { parsed } = outcome;
  if (!parsed) return { id: request.id, ok: true, outcome: { ...outcome, parsed: null } };
  const attachments = await Promise.all(
    parsed.attachments.map(async ({ content, ...a }) => ({ ...a, content: { location: await locate(content), size: content.size, sha256: content.sha256 } })),
  );
  return { id: request.id, ok: true, outcome: { ...outcome, parsed: { ...parsed, attachments } } };
}

port.on('message', (request: ParseRequest) => {
  answer(request).then(
    (reply) => port.postMessage(reply),
    (err) => port.postMessage({ id: request.id, ok: false, error: errorToWire(err) } satisfies ParseReply),
  );
});
