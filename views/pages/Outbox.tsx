import type { OutboxDetail } from '../../src/services/outbox-detail.js';
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

/** The notice (status) and the error (alert) of an outbox page, each when there is one. */
function Notices({ notice, error }: { notice?: string; error?: string }) {
  return (
    <>
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
    </>
  );
}

function when(view: View, d: Date | null): string {
  return d ? new Intl.DateTimeFormat(view.lang === 'de' ? 'de-DE' : 'en-GB', { dateStyle: 'short', timeStyle: 'medium' }).format(d) : '–';
}

/**
 * The outbox (Postausgang): every message with its state, attempts, next and last attempt, the
 * server's last reply and, for failed ones, an "Erneut versuchen" button (plain POST, CSRF field).
 * Subjects and replies are JSX text (escaped).
 */
export function OutboxPage({
  view,
  rows,
  state,
  notice,
  error,
  stateError,
}: {
  view: View;
  rows: OutboxRowView[];
  state?: string;
  notice?: string;
  error?: string;
  /** a `?state=` that is no state: refused beside the filter, no list shown */
  stateError?: string;
}) {
  const t = view.t.outboxPages;
  // actions keep the filter the list is shown with
  const keep = state ? `?state=${state}` : '';
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
        {stateError && (
          <p class="field-error" id="state-error" role="alert" data-testid="state-error">
            {stateError}
          </p>
        )}
      </nav>
      <Notices notice={notice} error={error} />
      {stateError ? null : rows.length === 0 ? (
        <p>{t.none}</p>
      ) : (
        <div class="table-scroll">
        <table data-testid="outbox" class="outbox">
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
                <td class="num">
                  <a href={`/outbox/${r.id}`}>{r.id}</a>
                </td>
                <td class="state">{t.states[r.state] ?? r.state}</td>
                <td>{r.to}</td>
                <td class="subject">
                  <a href={`/outbox/${r.id}`}>{r.subject}</a>
                </td>
                <td class="num attempts">{r.attempts}</td>
                <td>{when(view, r.nextAttemptAt)}</td>
                <td>{when(view, r.lastAttemptAt)}</td>
                <td class="reply">{r.lastReply ?? '–'}</td>
                <td>{when(view, r.sentAt)}</td>
                <td class="actions">
                  <a href={`/outbox/${r.id}`} aria-label={t.detailsLabel(r.id)}>
                    {t.details}
                  </a>
                  {r.state === 'failed' && (
                    <form method="post" action={`/outbox/${r.id}/retry${keep}`} class="inline">
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
        </div>
      )}
    </Layout>
  );
}

/**
 * One outbox entry (`/outbox/:id`): state, To, Cc, Bcc, subject, the task it replies to, attempts,
 * dates and the server's full last reply; "Erneut versuchen" when it failed. Addresses, subject
 * and reply are JSX text (escaped).
 */
export function OutboxDetailPage({ view, entry, notice, error }: { view: View; entry: OutboxDetail; notice?: string; error?: string }) {
  const t = view.t.outboxPages;
  const d = t.detail;
  return (
    <Layout view={view} title={d.title(entry.id)}>
      <link rel="stylesheet" href="/static/settings.css" />
      <p>
        <a href="/outbox">{d.back}</a>
      </p>
      <Notices notice={notice} error={error} />
      <dl class="outbox-detail" data-testid="outbox-detail">
        <dt>{t.state}</dt>
        <dd data-testid="state">{t.states[entry.state] ?? entry.state}</dd>
        <dt>{d.from}</dt>
        <dd>{entry.from}</dd>
        <dt>{t.to}</dt>
        <dd data-testid="to">{entry.toHeader ?? (entry.to || d.none)}</dd>
        <dt>{d.cc}</dt>
        <dd data-testid="cc">{entry.cc ?? d.none}</dd>
        <dt>{d.bcc}</dt>
        <dd data-testid="bcc">{entry.bcc.length ? entry.bcc.join(', ') : d.none}</dd>
        <dt>{t.subject}</dt>
        <dd data-testid="subject">{entry.subject}</dd>
        <dt>{d.task}</dt>
        <dd data-testid="task">{entry.taskId ? <a href={`/tasks/${entry.taskId}`}>{view.t.tasksPages.detail.title(entry.taskId)}</a> : d.noTask}</dd>
        <dt>{d.messageId}</dt>
        <dd>{entry.messageId}</dd>
        <dt>{d.size}</dt>
        <dd>{d.bytes(entry.size)}</dd>
        <dt>{t.attempts}</dt>
        <dd data-testid="attempts">{entry.attempts}</dd>
        <dt>{d.createdAt}</dt>
        <dd>{when(view, entry.createdAt)}</dd>
        <dt>{t.nextAttempt}</dt>
        <dd>{when(view, entry.nextAttemptAt)}</dd>
        <dt>{t.lastAttempt}</dt>
        <dd>{when(view, entry.lastAttemptAt)}</dd>
        <dt>{t.sentAt}</dt>
        <dd>{when(view, entry.sentAt)}</dd>
      </dl>
      <h2>{t.lastReply}</h2>
      {entry.lastReply ? (
        <pre class="server-reply" data-testid="reply">
          {entry.lastReply}
        </pre>
      ) : (
        <p class="muted">{d.noReply}</p>
      )}
      {entry.state === 'failed' && (
        <form method="post" action={`/outbox/${entry.id}/retry?from=detail`} class="inline">
          <CsrfField view={view} />
          <button type="submit" aria-label={t.retryLabel(entry.id)}>
            {t.retry}
          </button>
        </form>
      )}
    </Layout>
  );
}
