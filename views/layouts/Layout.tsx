import type { Child } from 'hono/jsx';
import { CsrfField } from '../fragments/CsrfField.js';
import { LANGUAGES } from '../i18n/index.js';
import type { View } from '../view.js';

interface NavItem {
  href: string;
  label: (v: View) => string;
  adminOnly: boolean;
}

/** Navigation of the admin; pages that do not exist yet answer with a "kommt bald" placeholder. */
export const NAV: NavItem[] = [
  { href: '/', label: (v) => v.t.nav.dashboard, adminOnly: true },
  { href: '/tasks', label: (v) => v.t.nav.tasks, adminOnly: true },
  { href: '/meine-vorgaenge', label: (v) => v.t.nav.myTasks, adminOnly: false },
  { href: '/staff', label: (v) => v.t.nav.staff, adminOnly: true },
  { href: '/mappings', label: (v) => v.t.nav.mappings, adminOnly: true },
  { href: '/activity-types', label: (v) => v.t.nav.activityTypes, adminOnly: true },
  { href: '/settings', label: (v) => v.t.nav.settings, adminOnly: true },
  { href: '/outbox', label: (v) => v.t.outboxPages.title, adminOnly: true },
];

function LanguageSwitch({ view }: { view: View }) {
  return (
    <form method="get" action="/sprache" class="lang-switch">
      <input type="hidden" name="back" value={view.path} />
      <label for="lang-select">{view.t.language}</label>{' '}
      <select id="lang-select" name="lang">
        {LANGUAGES.map((l) => (
          <option value={l} selected={l === view.lang}>
            {l === 'de' ? 'Deutsch' : 'English'}
          </option>
        ))}
      </select>{' '}
      <button type="submit">OK</button>
    </form>
  );
}

/**
 * The page frame: header with navigation (when signed in), language switch, main content.
 * No inline script anywhere (CSP `script-src 'self'`); htmx comes from /static/htmx.min.js and the
 * CSRF token rides on every htmx request through `hx-headers:inherited` on `<body>`.
 */
export function Layout({ view, title, children }: { view: View; title: string; children?: Child }) {
  const headers = view.csrfToken ? JSON.stringify({ 'X-CSRF-Token': view.csrfToken }) : undefined;
  return (
    <html lang={view.lang}>
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${title} – ${view.t.appName}`}</title>
        <link rel="icon" href="/static/favicon.svg" type="image/svg+xml" />
        <link rel="stylesheet" href="/static/admin.css" />
        <script src="/static/htmx.min.js" defer></script>
      </head>
      <body hx-headers:inherited={headers}>
        <a class="skip" href="#main">
          {view.t.skipToContent}
        </a>
        <header class="top">
          <span class="brand">{view.t.appName}</span>
          {view.user && (
            <nav aria-label={view.t.nav.label}>
              <ul>
                {NAV.filter((n) => !n.adminOnly || view.user!.role === 'admin').map((n) => (
                  <li>
                    <a href={n.href} aria-current={view.path === n.href ? 'page' : undefined}>
                      {n.label(view)}
                    </a>
                  </li>
                ))}
              </ul>
            </nav>
          )}
          <div class="top-right">
            <LanguageSwitch view={view} />
            {view.user && (
              <form method="post" action="/logout" class="logout">
                <CsrfField view={view} />
                <span class="who">{view.t.loggedInAs(view.user.name)}</span>{' '}
                <button type="submit">{view.t.logout}</button>
              </form>
            )}
          </div>
        </header>
        <main id="main">
          <h1>{title}</h1>
          {children}
        </main>
      </body>
    </html>
  );
}
