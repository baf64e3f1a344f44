import { create as contentDisposition } from 'content-disposition';

/** Stored bytes (an async iterable of Buffers, e.g. from db/blobs readBlob) as a response body stream, read as the client takes them. */
export function streamBody(chunks: AsyncIterable<Buffer>): ReadableStream<Uint8Array> {
  const it = chunks[Symbol.asyncIterator]();
  return new ReadableStream({
    async pull(controller) {
      const { value, done } = await it.next();
      if (done) controller.close();
      else controller.enqueue(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    },
    async cancel() {
      await it.return?.();
    },
  });
}

/**
 * A download of stored bytes: `Content-Disposition: attachment` with `filename` (RFC 6266, a
 * `filename*` for non-ASCII names, via the content-disposition package), the length, `nosniff`
 * and a sandboxing CSP, so that a browser never renders the content in the gateway's origin.
 * @param filename a safe file name (no path part), e.g. an attachment's stored name
 * @param extra more headers (an ETag)
 */
export function downloadResponse(chunks: AsyncIterable<Buffer>, file: { contentType: string; size: number; filename: string }, extra: Record<string, string> = {}): Response {
  return new Response(streamBody(chunks), {
    headers: {
      'Content-Type': file.contentType,
      'Content-Length': String(file.size),
      'Content-Disposition': contentDisposition(file.filename),
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': "sandbox; default-src 'none'",
      ...extra,
    },
  });
}
