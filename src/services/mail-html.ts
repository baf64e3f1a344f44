import sanitizeHtml from 'sanitize-html';

/** A URL that would make the browser contact another host: http(s) or protocol-relative. */
const REMOTE = /^\s*(https?:)?\/\//i;

/** CSS values without anything that loads (url(), image-set(), expression(), @import) or escapes. */
const SAFE_CSS_VALUE = [/^(?!.*(url|image|expression|import|\\))[#(),.%\s\w'"-]*$/i];
const CSS_PROPERTIES = [
  'color', 'background-color', 'font-weight', 'font-style', 'font-size', 'font-family', 'text-align', 'text-decoration',
  'vertical-align', 'line-height', 'white-space', 'width', 'height', 'max-width', 'padding', 'padding-top', 'padding-right',
  'padding-bottom', 'padding-left', 'margin', 'margin-top', 'margin-right', 'margin-bottom', 'margin-left', 'border',
  'border-top', 'border-right', 'border-bottom', 'border-left', 'border-collapse', 'border-color', 'border-width', 'border-style', 'display',
];

export interface SanitisedMailHtml {
  /** the HTML that may be shown (inside the sandboxed frame with its own CSP) */
  html: string;
  /** how many remote images and links were blocked (0 when `external` was set) */
  blocked: number;
}

/**
 * Sanitises the HTML body of a received message for display (issue 6 item 7) with sanitize-html
 * (an allowlist parser on htmlparser2, maintained by Apostrophe; it runs in Node without a DOM,
 * unlike DOMPurify, which would need jsdom). Kept: text structure (paragraphs, lists, tables,
 * headings, emphasis), `img` with `alt`, links, and inline styles limited to layout properties
 * whose values load nothing. Dropped: scripts and their text, `style`/`iframe`/`object`/`form`
 * elements, event handlers, `srcset`, every URL scheme but http(s), mailto and (for images) data.
 *
 * Remote content stays blocked unless `external` is set: a remote image becomes the text
 * `[Bild: alt]`, a link keeps its text but loses its target (shown in the title). With
 * `external`, images keep their http(s) source and links open in a new tab without referrer.
 * @param html the `text/html` body as stored (mailparser output)
 * @param opts.external load remote images and make links followable (the user asked for it)
 */
export function sanitiseMailHtml(html: string, opts: { external?: boolean } = {}): SanitisedMailHtml {
  const external = Boolean(opts.external);
  let blocked = 0;
  const clean = sanitizeHtml(html, {
    allowedTags: [...sanitizeHtml.defaults.allowedTags, 'img', 'font', 'center', 'u', 's'],
    allowedAttributes: {
      a: ['href', 'title', 'target', 'rel'],
      span: ['class', 'title'],
      img: ['src', 'alt', 'title', 'width', 'height'],
      font: ['color', 'size', 'face'],
      table: ['width', 'border', 'cellpadding', 'cellspacing', 'align'],
      td: ['colspan', 'rowspan', 'align', 'valign', 'width'],
      th: ['colspan', 'rowspan', 'align', 'valign', 'width', 'scope'],
      '*': ['style', 'align', 'dir', 'lang'],
    },
    allowedStyles: { '*': Object.fromEntries(CSS_PROPERTIES.map((p) => [p, SAFE_CSS_VALUE])) },
    allowedSchemes: ['http', 'https', 'mailto'],
    allowedSchemesByTag: { img: external ? ['http', 'https', 'data'] : ['data'] },
    allowProtocolRelative: false,
    transformTags: {
      a: (tagName, attribs) => {
        const href = attribs.href ?? '';
        if (REMOTE.test(href) && !external) {
          blocked++;
          return { tagName: 'span', attribs: { title: href, class: 'blocked-link' } as Record<string, string> };
        }
        const out: Record<string, string> = {};
        if (href) out.href = href;
        if (attribs.title) out.title = attribs.title;
        if (REMOTE.test(href)) Object.assign(out, { target: '_blank', rel: 'noopener noreferrer' });
        return { tagName, attribs: out };
      },
      img: (tagName, attribs) => {
        if (!external && REMOTE.test(attribs.src ?? '')) {
          blocked++;
          return { tagName: 'span', attribs: { class: 'blocked-img' }, text: `[Bild: ${attribs.alt || attribs.src}]` };
        }
        return { tagName, attribs };
      },
    },
  });
  return { html: clean, blocked };
}

/**
 * The Content-Security-Policy of the document that shows a message's sanitised HTML in the
 * sandboxed iframe: nothing may load (no script, no frame, no form target, no font) and, unless
 * `external`, no image either; inline `style` attributes are allowed (they passed the sanitiser).
 */
export function mailHtmlCsp(external: boolean): string {
  return [
    "default-src 'none'",
    external ? 'img-src http: https: data:' : "img-src data:",
    "style-src 'unsafe-inline'",
    "font-src 'none'",
    "form-action 'none'",
    "base-uri 'none'",
    "frame-ancestors 'self'",
    external ? 'sandbox allow-popups allow-popups-to-escape-sandbox' : 'sandbox',
  ].join('; ');
}
