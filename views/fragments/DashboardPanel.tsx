import type { DashboardModel } from '../../src/services/dashboard.js';
import { localizeRefusal } from '../i18n/refusals.js';
import type { View } from '../view.js';

export type { DashboardModel };

function when(view: View, d: Date | null): string {
  if (!d) return view.t.dashboard.never;
  return new Intl.DateTimeFormat(view.lang === 'de' ? 'de-DE' : 'en-GB', { dateStyle: 'medium', timeStyle: 'medium' }).format(d);
}

/**
 * The dashboard's content. The page includes it and htmx polls it: `GET /` with `HX-Request`
 * answers with this fragment alone, which replaces itself (`outerHTML`) every `pollSeconds`.
 * Every value is text in JSX (escaped); mailbox errors are shown as the plain words stored.
 */
export function DashboardPanel({ view, model }: { view: View; model: DashboardModel }) {
  const t = view.t.dashboard;
  return (
    <div id="dashboard" hx-get="/" hx-trigger={`every ${model.pollSeconds}s`} hx-swap="outerHTML">
      <p class="muted" aria-live="off">
        {t.updated(when(view, model.at))}
      </p>
      <section aria-labelledby="tasks-h">
        <h2 id="tasks-h">{t.tasks}</h2>
        <dl class="figures">
          <div>
            <dt>{t.unassigned}</dt>
            <dd data-testid="unassigned-count">{model.unassigned}</dd>
          </div>
          <div>
            <dt>{t.openTotal}</dt>
            <dd data-testid="open-count">{model.openTotal}</dd>
          </div>
        </dl>
        <h3>{t.byActivity}</h3>
        {model.byActivity.length === 0 ? (
          <p>{t.noOpenTasks}</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">{t.activity}</th>
                <th scope="col" class="num">
                  {t.count}
                </th>
              </tr>
            </thead>
            <tbody>
              {model.byActivity.map((a) => (
                <tr>
                  <td>{a.name}</td>
                  <td class="num">{a.count}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      {model.queue && (
        <section aria-labelledby="queue-h">
          <h2 id="queue-h">{t.queue}</h2>
          <dl class="figures">
            <div>
              <dt>{t.queueDepth}</dt>
              <dd data-testid="queue-depth">
                {model.queue.depth}
                {model.queue.depth > 0 && ` (${t.queueOldest(model.queue.oldestSeconds)})`}
              </dd>
            </div>
            <div>
              <dt>{t.queueLatency}</dt>
              <dd data-testid="queue-latency">{model.queue.latencyP95Ms === null ? t.queueLatencyNone : `${model.queue.latencyP95Ms} ms`}</dd>
            </div>
          </dl>
          {model.queue.retrying > 0 && (
            <p class="warn" role="status">
              {t.queueRetrying(model.queue.retrying)}
            </p>
          )}
        </section>
      )}
      <div class="channels">
        {model.channels.map((ch) => (
          <section class="card" aria-labelledby={`ch-${ch.channel}`} data-testid={`channel-${ch.channel}`}>
            <h2 id={`ch-${ch.channel}`}>{t.channel[ch.channel]}</h2>
            <h3>{t.smtp}</h3>
            <dl>
              <dt>{t.status}</dt>
              <dd>{model.smtp ? t.smtpListening(model.smtp) : t.smtpNotRunning}</dd>
              <dt>{t.inboundAddresses}</dt>
              <dd>{ch.inboundAddresses.length ? ch.inboundAddresses.join(', ') : <span class="warn">{t.noInboundAddress}</span>}</dd>
              <dt>{t.messagesToday}</dt>
              <dd data-testid={`smtp-today-${ch.channel}`}>{ch.smtpToday}</dd>
            </dl>
            <h3>{t.mailbox}</h3>
            {!ch.mailbox ? (
              <p>{t.noMailbox}</p>
            ) : (
              <>
                <p>
                  {`${ch.mailbox.protocol.toUpperCase()} ${ch.mailbox.username} @ ${ch.mailbox.host}:${ch.mailbox.port}, ${t.interval(ch.mailbox.intervalMinutes)}`}
                  {!ch.mailbox.enabled && ` (${t.mailboxDisabled})`}
                </p>
                {ch.mailbox.staleMinutes !== null && (
                  <p class="message error" role="alert">
                    {t.stale(ch.mailbox.staleMinutes)}
                  </p>
                )}
                <dl>
                  <dt>{t.lastSuccess}</dt>
                  <dd>{when(view, ch.mailbox.lastSuccessAt)}</dd>
                  <dt>{t.lastError}</dt>
                  <dd>{ch.mailbox.lastError ? `${when(view, ch.mailbox.lastErrorAt)}: ${localizeRefusal(ch.mailbox.lastError, view.lang)}` : t.noError}</dd>
                  <dt>{t.failuresInARow}</dt>
                  <dd>{ch.mailbox.consecutiveFailures}</dd>
                </dl>
              </>
            )}
          </section>
        ))}
      </div>
    </div>
  );
}
