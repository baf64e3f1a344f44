import { parseHeaderValue } from 'nodemailer/lib/mime-funcs';

/**
 * Why a message must never be answered automatically (RFC 3834 §2, §3.1.8; RFC 3464):
 * - `bounce`: a delivery status notification (null reverse path, `multipart/report;
 *   report-type=delivery-status`);
 * - `auto-submitted`: `Auto-Submitted` other than `no` (auto-replied, auto-generated, …), or
 *   Microsoft's `X-Auto-Response-Suppress`;
 * - `list`: mailing-list mail (`List-Id`, RFC 2919, or `Precedence: list`);
 * - `bulk`: `Precedence: bulk` or `junk`.
 */
export type AutomatedKind = 'bounce' | 'auto-submitted' | 'list' | 'bulk';

export interface Automated {
  kind: AutomatedKind;
  /** the header field (or envelope) that decided it, e.g. `Auto-Submitted: auto-replied` */
  reason: string;
}

/** A header field as mailparser's `headerLines` gives it: lower-case key and the whole folded line. */
export interface HeaderLine {
  key: string;
  line: string;
}

/** The unfolded value of a header line (RFC 5322 §2.2.3). */
function valueOf(h: HeaderLine): string {
  return h.line
    .slice(h.line.indexOf(':') + 1)
    .replace(/\r?\n[ \t]+/g, ' ')
    .trim();
}

/**
 * Classifies a message for loop protection; pure, so the tests call it directly.
 * @param headerLines the top-level header fields as received
 * @param envelopeFrom the SMTP `MAIL FROM` when known (`''` is the null reverse path of a
 *   bounce, RFC 5321 §4.5.5); polled mail shows it as `Return-Path: <>`
 * @returns the kind and the deciding field, or null for mail from a person
 */
export function classifyAutomated(headerLines: HeaderLine[], envelopeFrom?: string | null): Automated | null {
  const first = (key: string) => {
    const h = headerLines.find((l) => l.key === key);
    return h ? valueOf(h) : null;
  };
  const returnPath = first('return-path');
  if (envelopeFrom === '' || (returnPath !== null && /^<\s*>$/.test(returnPath))) {
    return { kind: 'bounce', reason: envelopeFrom === '' ? 'MAIL FROM:<> (null sender)' : 'Return-Path: <>' };
  }
  const contentType = first('content-type');
  if (contentType) {
    const parsed = parseHeaderValue(contentType);
    if (parsed.value.toLowerCase() === 'multipart/report' && String(parsed.params['report-type'] ?? '').toLowerCase() === 'delivery-status') {
      return { kind: 'bounce', reason: 'Content-Type: multipart/report; report-type=delivery-status' };
    }
  }
  const autoSubmitted = first('auto-submitted');
  if (autoSubmitted !== null) {
    const keyword = autoSubmitted.split(/[\s;(]/)[0]!.toLowerCase();
    if (keyword && keyword !== 'no') return { kind: 'auto-submitted', reason: `Auto-Submitted: ${keyword}` };
  }
  const suppress = first('x-auto-response-suppress');
  if (suppress !== null) return { kind: 'auto-submitted', reason: `X-Auto-Response-Suppress: ${suppress}` };
  const listId = first('list-id');
  if (listId !== null) return { kind: 'list', reason: 'List-Id' };
  const precedence = first('precedence')?.toLowerCase();
  if (precedence === 'list') return { kind: 'list', reason: 'Precedence: list' };
  if (precedence === 'bulk' || precedence === 'junk') return { kind: 'bulk', reason: `Precedence: ${precedence}` };
  return null;
}
