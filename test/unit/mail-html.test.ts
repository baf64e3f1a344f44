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
  assert.equal(links.blocked, 2);
  assert.equal(links.html, '<span title="https://amt.example/antrag" class="blocked-link">Antrag</span> <span title="//cdn.example/x" class="blocked-link">y</span> <a href="mailto:a@b.example">Mail</a> <img alt="Logo" src="data:image/png;base64,AAAA" />');
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
