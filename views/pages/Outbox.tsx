import { CsrfField } from '../fragments/CsrfField.js';
import { Layout } from '../layouts/Layout.js';
import type { View } from '../view.js';

/** An outbox entry as the page shows it (services/outbox.ts OutboxView, the fields used here). */
export interface OutboxRowView {
  id: number;
  state: string;
  to: string;
  subject: string;
  attempts: number;
  nextAttemptAt: Date | null;
  lastAttemptAt: Date | null;
  lastReply: string | null;
  sentAt: Date | null;
}

export const OUTBOX_FILTERS = ['queued', 'sending', 'failed', 'sent'] as const;

function when(view: View, d: Date | null): string {
  return d ? new Intl.DateTimeFormat(view.lang === 'de' ? 'de-DE' : 'en-GB', { dateStyle: 'short', timeStyle: 'medium' }).format(d) : '–';
}

/**
 * The outbox (Postausgang): every message with its state, attempts, next and last attempt, the
 * server's last reply and, for failed ones, an "Erneut versuchen" button (plain POST, CSRF field).
 * Subjects and replies are JSX text (escaped).
 */
export function OutboxPage({ view, rows, state, notice, error }: { view: View; rows: OutboxRowView[]; state?: string; notice?: string; error?: string }) {
  const t = view.t.outboxPages;
  return (
    <Layout view={view} title={t.title}>
      <link rel="stylesheet" href="/static/settings.css" />
      <p class="muted">{t.intro}</p>
      <nav class="filters" aria-label={t.filterLabel}>
        <ul>
          <li>
            <a href="/outbox" aria-current={!state ? 'page' : undefined}>
              {t.all}
            </a>
          </li>
          {OUTBOX_FILTERS.map((s) => (
            <li>
              <a href={`/outbox?state=${s}`} aria-current={state === s ? 'page' : undefined}>
                {t.states[s]}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      {notice && (
        <p class="message notice" role="status">
          {notice}
        </p>
      )}
      {error && (
        <p class="message error" role="alert">
          {error}
        </p>
      )}
      {rows.length === 0 ? (
        <p>{t.none}</p>
      ) : (
        <table data-testid="outbox">
          <thead>
            <tr>
              <th scope="col" class="num">{t.id}</th>
              <th scope="col">{t.state}</th>
              <th scope="col">{t.to}</th>
              <th scope="col">{t.subject}</th>
              <th scope="col" class="num">{t.attempts}</th>
              <th scope="col">{t.nextAttempt}</th>
              <th scope="col">{t.lastAttempt}</th>
              <th scope="col">{t.lastReply}</th>
              <th scope="col">{t.sentAt}</th>
              <th scope="col">{t.actions}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr data-testid={`outbox-${r.id}`} data-state={r.state}>
                <td class="num">{r.id}</td>
                <td class="state">{t.states[r.state] ?? r.state}</td>
                <td>{r.to}</td>
                <td>{r.subject}</td>
                <td class="num attempts">{r.attempts}</td>
                <td>{when(view, r.nextAttemptAt)}</td>
                <td>{when(view, r.lastAttemptAt)}</td>
                <td class="reply">{r.lastReply ?? '–'}</td>
                <td>{when(view, r.sentAt)}</td>
                <td>
                  {r.state === 'failed' && (
                    <form method="post" action={`/outbox/${r.id}/retry`} class="inline">
                      <CsrfField view={view} />
                      <button type="submit" aria-label={t.retryLabel(r.id)}>
                        {t.retry}
                      </button>
                    </form>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Layout>
  );
}
