// The sanitiser of received HTML bodies (issue 6 item 7): what stays, what goes, what is blocked
// until the user asks for external content. Expected outputs follow from the allowlist in
// src/services/mail-html.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mailHtmlCsp, sanitiseMailHtml } from '../../src/services/mail-html.js';

test('scripts, handlers, javascript: URLs, frames, forms and style sheets are removed', () => {
  const { html } = sanitiseMailHtml(
    `<p onclick="alert(1)">Hallo</p><script>alert('body')</script><a href="javascript:alert(2)">x</a><iframe src="https://evil.example/"></iframe>` +
      `<form action="https://evil.example/"><input name="q"></form><style>body{background:url(https://t.example/a)}</style><svg onload="alert(3)"></svg><object data="x.swf"></object>`,
  );
  assert.equal(html, '<p>Hallo</p><a>x</a>');
});

test('remote images and links are blocked and counted; data: images stay; the corpus body', () => {
  const r = sanitiseMailHtml(`<p>Hallo</p><script>alert('body')</script><img src="http://tracker.example.org/p.gif">`);
  assert.deepEqual(r, { html: '<p>Hallo</p><span class="blocked-img">[Bild: http://tracker.example.org/p.gif]</span>', blocked: 1 });
  const links = sanitiseMailHtml(`<a href="https://amt.example/antrag">Antrag</a> <a href="//cdn.example/x">y</a> <a href="mailto:a@b.example">Mail</a> <img alt="Logo" src="data:image/png;base64,AAAA">`);
  // the protocol-relative link is no absolute URL (it would resolve against our own page): its target goes
  assert.equal(links.blocked, 1);
  assert.equal(links.html, '<span title="https://amt.example/antrag" class="blocked-link">Antrag</span> <a>y</a> <a href="mailto:a@b.example">Mail</a> <img src="data:image/png;base64,AAAA" alt="Logo" />');
});

// What a browser makes of each href (URL Standard: `\` is `/` in http(s) URLs, missing slashes are
// supplied, tab/CR/LF removed, surrounding blanks and controls trimmed), worked out by hand.
const REMOTE_FORMS: ReadonlyArray<readonly [string, string]> = [
  ['https:\\\\evil.example\\x', 'https://evil.example/x'],
  ['https:evil.example', 'https://evil.example/'],
  ['https:/evil.example', 'https://evil.example/'],
  ['HTTPS://Evil.Example', 'https://evil.example/'],
  ['  https://evil.example/a b', 'https://evil.example/a%20b'],
  ['ht&#x09;tps://evil.example', 'https://evil.example/'],
  ['https://amt.example/antrag?nr=1#teil', 'https://amt.example/antrag?nr=1#teil'],
];
// relative (would resolve against our admin), protocol-relative, or not http(s)/mailto once parsed
const DROPPED_FORMS = ['//evil.example', '/\\evil.example', '\\\\evil.example', '/staff', 'staff', 'java&#x09;script:alert(1)', '&#x01;javascript:alert(1)', 'data:text/html,x', 'vbscript:x', 'https://', 'http:'];

test('link URLs: what the browser would follow to another host is blocked (and shown) as the parsed URL', () => {
  for (const [href, followed] of REMOTE_FORMS) {
    assert.deepEqual(sanitiseMailHtml(`<a href="${href}">t</a>`), { html: `<span title="${followed}" class="blocked-link">t</span>`, blocked: 1 }, href);
    // with external content it is a link again, written as the parsed URL
    assert.deepEqual(sanitiseMailHtml(`<a href="${href}">t</a>`, { external: true }), { html: `<a href="${followed}" target="_blank" rel="noopener noreferrer">t</a>`, blocked: 0 }, href);
  }
});

test('link URLs that are not absolute http(s)/mailto URLs lose their target, with external content too', () => {
  for (const href of DROPPED_FORMS) {
    for (const external of [false, true]) assert.deepEqual(sanitiseMailHtml(`<a href="${href}">t</a>`, { external }), { html: '<a>t</a>', blocked: 0 }, `${href} ${external}`);
  }
  assert.equal(sanitiseMailHtml('<a href="mailto:Poststelle@Amt.example?subject=Antrag">m</a>').html, '<a href="mailto:Poststelle@Amt.example?subject=Antrag">m</a>');
});

test('image sources: remote forms blocked or written as parsed, relative ones dropped', () => {
  assert.deepEqual(sanitiseMailHtml('<img src="https:\\\\t.example\\p.gif" alt="Pixel">'), { html: '<span class="blocked-img">[Bild: Pixel]</span>', blocked: 1 });
  assert.equal(sanitiseMailHtml('<img src="https:t.example/p.gif" alt="Pixel">', { external: true }).html, '<img src="https://t.example/p.gif" alt="Pixel" />');
  for (const src of ['//t.example/p.gif', '/static/logo.png', 'cid:logo@amt', 'javascript:x']) {
    assert.deepEqual(sanitiseMailHtml(`<img src="${src}" alt="A">`, { external: true }), { html: '<img alt="A" />', blocked: 0 }, src);
  }
});

test('inline styles keep layout properties whose values load nothing', () => {
  const { html } = sanitiseMailHtml(`<div style="color: red; background-image: url(https://t.example/a); font-weight: bold; width: expression(alert(1))">t</div>`);
  assert.equal(html, '<div style="color:red;font-weight:bold">t</div>');
});

test('with external content the image keeps its source and links open in a new tab without referrer', () => {
  const r = sanitiseMailHtml(`<img src="https://amt.example/logo.png" alt="Logo"><a href="https://amt.example/">Amt</a><script>x()</script>`, { external: true });
  assert.deepEqual(r, { html: '<img src="https://amt.example/logo.png" alt="Logo" /><a href="https://amt.example/" target="_blank" rel="noopener noreferrer">Amt</a>', blocked: 0 });
});

test('the frame CSP lets nothing load by default and only images with external content', () => {
  assert.match(mailHtmlCsp(false), /^default-src 'none'; img-src data:;/);
  assert.doesNotMatch(mailHtmlCsp(false), /script-src|allow-scripts|https?:/);
  assert.match(mailHtmlCsp(true), /img-src http: https: data:/);
  assert.match(mailHtmlCsp(true), /sandbox allow-popups allow-popups-to-escape-sandbox$/);
  assert.doesNotMatch(mailHtmlCsp(true), /allow-scripts|allow-same-origin/);
});
