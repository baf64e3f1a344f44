import sanitizeHtml from 'sanitize-html';

/** Schemes a link keeps (as the WHATWG URL parser writes them: lower case, with the colon). */
const LINK_SCHEMES: readonly string[] = ['http:', 'https:', 'mailto:'];
/** Schemes an image source keeps; http(s) only with external content. */
const IMAGE_SCHEMES: readonly string[] = ['http:', 'https:', 'data:'];

/**
 * The URL a browser follows for an attribute value, when it is an absolute URL of one of
 * `schemes`: parsed with the WHATWG URL parser (URL Standard, as the browser parses `href` and
 * `src`: surrounding blanks and controls trimmed, tab/CR/LF removed, `\` read as `/` and missing
 * slashes supplied for http(s), so `https:\\host` and `https:host` are https://host/).
 * A relative or protocol-relative reference (which would resolve against our own page), an
 * unparsable value and any other scheme give null.
 */
function absoluteUrl(value: string | undefined, schemes: readonly string[]): URL | null {
  if (value === undefined || !URL.canParse(value)) return null;
  const url = new URL(value);
  return schemes.includes(url.protocol) ? url : null;
}

/** Whether following the URL would make the browser contact another host. */
const isRemote = (url: URL) => url.protocol === 'http:' || url.protocol === 'https:';

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
 * elements, event handlers, `srcset`, every URL scheme but http(s), mailto and (for images) data,
 * and every link or image URL that is not absolute (relative and protocol-relative references
 * would resolve against our own page): what stays is written back as the WHATWG URL parser
 * serialises it, which is what the browser follows (`https:\\host` becomes `https://host/`).
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
      // link and image URLs are written back as the parser serialises them (or dropped), so the
      // browser follows exactly what was checked here
      a: (tagName, attribs) => {
        const url = absoluteUrl(attribs.href, LINK_SCHEMES);
        if (url && isRemote(url) && !external) {
          blocked++;
          return { tagName: 'span', attribs: { title: url.href, class: 'blocked-link' } as Record<string, string> };
        }
        const out: Record<string, string> = {};
        if (url) out.href = url.href;
        if (attribs.title) out.title = attribs.title;
        if (url && isRemote(url)) Object.assign(out, { target: '_blank', rel: 'noopener noreferrer' });
        return { tagName, attribs: out };
      },
      img: (tagName, attribs) => {
        const url = absoluteUrl(attribs.src, IMAGE_SCHEMES);
        if (url && isRemote(url) && !external) {
          blocked++;
          return { tagName: 'span', attribs: { class: 'blocked-img' }, text: `[Bild: ${attribs.alt || url.href}]` };
        }
        const { src: _src, ...rest } = attribs;
        return { tagName, attribs: url ? { src: url.href, ...rest } : rest };
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
