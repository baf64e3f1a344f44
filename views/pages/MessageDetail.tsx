import type { showMessage } from '../../src/services/messages.js';
import type { TaskView } from '../../src/db/repositories/task-views.js';
import type { taskHistoryFor } from '../../src/services/task-actions.js';
import type { EligiblePerson } from '../../src/services/task-pages.js';
import { CsrfField } from '../fragments/CsrfField.js';
import { ParseIssues } from '../fragments/ParseIssues.js';
import { PersonSelect } from '../fragments/TasksQueue.js';
import { dateTime } from '../fragments/TasksTable.js';
import { Layout } from '../layouts/Layout.js';
import type { View } from '../view.js';

/** Everything the message detail page shows. */
export interface MessageDetailModel {
  task: TaskView;
  message: Awaited<ReturnType<typeof showMessage>>;
  recipients: { to: string | null; cc: string | null };
  history: Awaited<ReturnType<typeof taskHistoryFor>>;
  people: EligiblePerson[];
  /** remote content of the HTML body is loaded (the user asked for it) */
  external: boolean;
  /** how many remote images and links the sanitiser blocked */
  blocked: number;
  notice?: string;
  /** an action that failed, with the reason shown beside its field */
  error?: { form: 'claim' | 'complete' | 'reopen' | 'forward' | 'assign'; message: string };
}

function Err({ id, model, form }: { id: string; model: MessageDetailModel; form: string }) {
  return model.error?.form === form ? (
    <span class="field-error" id={id} role="alert">
      {model.error.message}
    </span>
  ) : null;
}

/** A history entry's details in words: who it went to or came from. */
function detailText(view: View, detail: unknown): string {
  if (!detail || typeof detail !== 'object') return '';
  const d = detail as Record<string, unknown>;
  const parts: string[] = [];
  if (typeof d.from === 'string' && d.from) parts.push(`${d.from} →`);
  if (typeof d.to === 'string' && d.to) parts.push(d.from ? d.to : `→ ${d.to}`);
  if (typeof d.status === 'string') parts.push(`(${view.t.tasksPages.statusName[d.status] ?? d.status})`);
  if (typeof d.reason === 'string') parts.push(`(${d.reason})`);
  return parts.join(' ');
}

/**
 * The message detail of a task (`/tasks/:id`): headers (From, To, Cc, Date, Subject,
 * Message-ID), the text body, the HTML body sanitised inside a sandboxed iframe (no scripts; its
 * own CSP; remote images and links blocked until "Externe Inhalte laden"), attachments and the
 * raw .eml as downloads, the task's history and the actions complete / reopen / forward / assign
 * as plain forms with the CSRF field. Every mail-derived string is JSX text or an attribute.
 */
export function MessageDetailPage({ view, model }: { view: View; model: MessageDetailModel }) {
  const t = view.t.tasksPages;
  const d = t.detail;
  const { task, message: m } = model;
  const isAdmin = view.user?.role === 'admin';
  // the rules of the task services (task-actions.ts): the assignee or an admin completes and
  // forwards; a candidate takes an open task nobody has yet
  const mine = view.user !== undefined && model.task.assignee?.id === view.user.id;
  const mayHandle = isAdmin || mine;
  const status = model.task.status;
  /** which action forms the page shows (an error of another one is shown above them) */
  const shown: Record<NonNullable<MessageDetailModel['error']>['form'], boolean> = {
    claim: status === 'open' && !model.task.assignee && view.user !== undefined && model.task.candidates.some((c) => c.id === view.user!.id),
    complete: status !== 'completed' && mayHandle,
    reopen: status === 'completed',
    forward: status === 'open' && mayHandle,
    assign: status === 'unassigned' && isAdmin,
  };
  const sender = m.senderAddress ? (m.senderName ? `${m.senderName} <${m.senderAddress}>` : m.senderAddress) : t.noSender;
  const frameUrl = `/messages/${m.id}/html${model.external ? '?external=1' : ''}`;
  return (
    <Layout view={view} title={d.title(task.id)}>
      <link rel="stylesheet" href="/static/tasks.css" />
      <p>
        <a href={isAdmin ? '/tasks' : '/meine-vorgaenge'}>{d.back}</a>
      </p>
      {model.notice && (
        <p class="message notice" role="status">
          {model.notice}
        </p>
      )}
      <section aria-labelledby="task-h">
        <h2 id="task-h">{d.task}</h2>
        <dl>
          <dt>{t.columns.status}</dt>
          <dd data-testid="status">{t.statusName[task.status] ?? task.status}</dd>
          <dt>{t.columns.channel}</dt>
          <dd>{t.channelName[task.channel] ?? task.channel}</dd>
          <dt>{t.columns.activityType}</dt>
          <dd>{task.activityType}</dd>
          <dt>{t.columns.assignee}</dt>
          <dd data-testid="assignee">{task.assignee?.name ?? d.nobody}</dd>
          <dt>{d.candidates}</dt>
          <dd>{task.candidates.length ? task.candidates.map((c) => c.name).join('; ') : d.nobody}</dd>
        </dl>
        <h3>{d.actions}</h3>
        {model.error && !shown[model.error.form] && (
          // the action's form is not on the page any more (the task changed meanwhile): the reason stays visible
          <p class="message error" role="alert">
            {model.error.message}
          </p>
        )}
        <div class="task-actions">
          {shown.claim && (
            <form method="post" action={`/tasks/${task.id}/claim`} class="inline">
              <CsrfField view={view} />
              <button type="submit">{d.claim}</button> <Err id="claim-error" model={model} form="claim" />
              <p class="muted small">{d.claimHint}</p>
            </form>
          )}
          {shown.reopen && (
            <form method="post" action={`/tasks/${task.id}/reopen`} class="inline">
              <CsrfField view={view} />
              <button type="submit">{d.reopen}</button> <Err id="reopen-error" model={model} form="reopen" />
            </form>
          )}
          {shown.complete && (
            <form method="post" action={`/tasks/${task.id}/complete`} class="inline">
              <CsrfField view={view} />
              <button type="submit">{d.complete}</button> <Err id="complete-error" model={model} form="complete" />
            </form>
          )}
          {shown.forward && (
            <form method="post" action={`/tasks/${task.id}/forward`} class="inline">
              <CsrfField view={view} />
              <label for="forward-to">{d.forwardTo}</label>{' '}
              <PersonSelect view={view} id="forward-to" people={model.people.filter((p) => p.id !== task.assignee?.id)} describedBy={model.error?.form === 'forward' ? 'forward-error' : undefined} />{' '}
              <button type="submit">{d.forward}</button> <Err id="forward-error" model={model} form="forward" />
            </form>
          )}
          {shown.assign && (
            <form method="post" action={`/tasks/${task.id}/assign`} class="inline">
              <CsrfField view={view} />
              <label for="assign-to">{d.assignTo}</label>{' '}
              <PersonSelect view={view} id="assign-to" people={model.people} describedBy={model.error?.form === 'assign' ? 'assign-error' : undefined} />{' '}
              <button type="submit">{d.assign}</button> <Err id="assign-error" model={model} form="assign" />
            </form>
          )}
        </div>
      </section>
      <section aria-labelledby="msg-h">
        <h2 id="msg-h">{d.message}</h2>
        {m.parseError && <p class="message error">{d.unreadable(m.parseError)}</p>}
        <ParseIssues view={view} issues={m.parseIssues} incomplete={m.incomplete} />
        {m.automated && (
          <p class="message notice automated" data-testid="automated" data-automated={m.automated}>
            <span class="badge badge-automated">
              {d.automated}: {t.automatedKind[m.automated] ?? m.automated}
            </span>{' '}
            {d.automatedExplain}
          </p>
        )}
        <dl class="headers">
          <dt>{d.from}</dt>
          <dd data-testid="from">{sender}</dd>
          <dt>{d.to}</dt>
          <dd data-testid="to">{model.recipients.to ?? '–'}</dd>
          {model.recipients.cc && (
            <>
              <dt>{d.cc}</dt>
              <dd>{model.recipients.cc}</dd>
            </>
          )}
          <dt>{d.date}</dt>
          <dd data-testid="date">{dateTime(view, m.date)}</dd>
          <dt>{d.subject}</dt>
          <dd data-testid="subject">{m.subject || t.noSubject}</dd>
          <dt>{d.messageId}</dt>
          <dd data-testid="message-id">{m.messageIdHeader ?? '–'}</dd>
          <dt>{d.received}</dt>
          <dd>{dateTime(view, m.receivedAt)}</dd>
        </dl>
        <h3>{d.attachments}</h3>
        {m.attachments.length === 0 ? (
          <p>{d.noAttachments}</p>
        ) : (
          <ul class="attachments">
            {m.attachments.map((a) => (
              <li>
                <a href={`/attachments/${a.id}`} download={a.filename} data-testid="attachment">
                  {a.filename}
                </a>{' '}
                <span class="muted">
                  ({a.contentType}, {d.bytes(a.size)})
                </span>
              </li>
            ))}
          </ul>
        )}
        <p>
          <a href={`/messages/${m.id}/raw`} download>
            {d.raw}
          </a>
        </p>
        <h3>{d.text}</h3>
        {m.text ? <pre class="mail-text" data-testid="text">{m.text}</pre> : <p class="muted">{d.noText}</p>}
        {m.html && (
          <>
            <h3>{d.html}</h3>
            {model.external ? (
              <p class="message notice">
                {d.externalLoaded} <a href={`/tasks/${task.id}`}>{d.hideExternal}</a>
              </p>
            ) : (
              model.blocked > 0 && (
                <p class="message notice">
                  {d.externalBlocked(model.blocked)} <a href={`/tasks/${task.id}?external=1`}>{d.loadExternal}</a>
                </p>
              )
            )}
            <iframe class="mail-html" title={d.htmlFrame} src={frameUrl} sandbox={model.external ? 'allow-popups allow-popups-to-escape-sandbox' : ''} referrerpolicy="no-referrer"></iframe>
          </>
        )}
      </section>
      <section aria-labelledby="hist-h">
        <h2 id="hist-h">{d.history}</h2>
        <table class="history">
          <thead>
            <tr>
              <th scope="col">{d.when}</th>
              <th scope="col">{d.who}</th>
              <th scope="col">{d.what}</th>
            </tr>
          </thead>
          <tbody>
            {model.history.map((h) => (
              <tr data-action={h.action}>
                <td>{dateTime(view, h.at)}</td>
                <td>{h.actor?.name ?? d.system}</td>
                <td>
                  {d.event[h.action] ?? h.action} {detailText(view, h.detail)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </Layout>
  );
}
