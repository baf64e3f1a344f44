import type { EligiblePerson } from '../../src/services/task-pages.js';
import type { View } from '../view.js';
import { CsrfField } from './CsrfField.js';
import { dateTime } from './TasksTable.js';

/** A task of the unassigned queue as the queue shows it. */
export interface QueueRow {
  id: number;
  channel: string;
  activityType: string;
  sender: string | null;
  senderName: string | null;
  subject: string | null;
  unreadable: boolean;
  /** RFC 3834 loop protection: bounce | auto-submitted | list | bulk; null for mail from a person */
  automated: string | null;
  createdAt: Date;
}

/** The error of one form in one row, shown beside its field. */
export interface QueueError {
  taskId: number;
  form: 'assign' | 'mapping';
  message: string;
}

/** A required select of the people a task can go to (value: their login). */
export function PersonSelect({ view, id, people, describedBy }: { view: View; id: string; people: EligiblePerson[]; describedBy?: string }) {
  return (
    <select id={id} name="to" required aria-describedby={describedBy}>
      <option value="">{view.t.tasksPages.detail.choose}</option>
      {people.map((p) => (
        <option value={p.login}>{p.name}</option>
      ))}
    </select>
  );
}

/**
 * The unassigned queue (`#queue`): each task with "zuweisen" (assign to an eligible person) and,
 * when the sender is an active staff record, "Zuordnung für diesen Absender anlegen" (a mapping
 * Von → An that also routes the sender's other waiting tasks); otherwise a note with a link to
 * the staff page. Both forms post with htmx and get this fragment back, with a notice, or with
 * the error beside the field of the row that failed (status 400).
 */
export function TasksQueue(props: {
  view: View;
  rows: QueueRow[];
  total: number;
  people: EligiblePerson[];
  staffAddresses: Set<string>;
  notice?: string;
  error?: QueueError;
}) {
  const { view, rows, people } = props;
  const t = view.t.tasksPages;
  const q = t.queue;
  const hx = (url: string) => ({ 'hx-post': url, 'hx-target': '#queue', 'hx-swap': 'outerHTML' });
  return (
    <div id="queue">
      {props.notice && (
        <p class="message notice" role="status">
          {props.notice}
        </p>
      )}
      {props.error && !rows.some((r) => r.id === props.error!.taskId) && (
        // the row the form was sent from has left the queue (another tab or person acted first)
        <p class="message error" role="alert">
          {q.rowGone(props.error.taskId, props.error.message)}
        </p>
      )}
      <p class="list-summary">
        <span data-testid="total">{t.total(props.total)}</span>
      </p>
      {people.length === 0 && <p class="message error">{q.noEligible}</p>}
      {rows.length === 0 ? (
        <p class="message notice">{t.none}</p>
      ) : (
        <table class="tasks queue">
          <thead>
            <tr>
              <th scope="col">{t.columns.id}</th>
              <th scope="col">{t.columns.sender}</th>
              <th scope="col">{t.columns.subject}</th>
              <th scope="col">{t.columns.created}</th>
              <th scope="col">{t.columns.actions}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => {
              const err = props.error?.taskId === r.id ? props.error : undefined;
              const assignId = `assign-${r.id}`;
              const mapId = `map-${r.id}`;
              const isStaff = r.sender !== null && props.staffAddresses.has(r.sender.toLowerCase());
              return (
                <tr data-task={String(r.id)}>
                  <td class="num">
                    <a href={`/tasks/${r.id}`}>{r.id}</a>
                  </td>
                  <td>{r.sender ? (r.senderName ? `${r.senderName} <${r.sender}>` : r.sender) : <span class="muted">{t.noSender}</span>}</td>
                  <td class="subject">
                    <a href={`/tasks/${r.id}`}>{r.subject || t.noSubject}</a>
                    {r.unreadable && <span class="badge">{t.unreadable}</span>}
                    {r.automated && (
                      <span class="badge badge-automated" data-automated={r.automated} title={t.automatedTitle(t.automatedKind[r.automated] ?? r.automated)}>
                        {t.automated}: {t.automatedKind[r.automated] ?? r.automated}
                      </span>
                    )}
                    <div class="muted small">
                      {t.channelName[r.channel] ?? r.channel} · {r.activityType}
                    </div>
                  </td>
                  <td>{dateTime(view, r.createdAt)}</td>
                  <td class="queue-actions">
                    <form method="post" action={`/tasks/${r.id}/assign`} {...hx(`/tasks/${r.id}/assign`)} class="inline">
                      <CsrfField view={view} />
                      <input type="hidden" name="from" value="queue" />
                      <label for={assignId}>{q.assignTo}</label> <PersonSelect view={view} id={assignId} people={people} describedBy={err?.form === 'assign' ? `${assignId}-error` : undefined} />{' '}
                      <button type="submit">{q.assign}</button>
                      {err?.form === 'assign' && (
                        <span class="field-error" id={`${assignId}-error`} role="alert">
                          {err.message}
                        </span>
                      )}
                    </form>
                    {r.sender === null || r.unreadable ? (
                      <p class="muted small">{q.noSenderAddress}</p>
                    ) : isStaff ? (
                      <form method="post" action="/tasks/unassigned/mapping" {...hx('/tasks/unassigned/mapping')} class="inline">
                        <CsrfField view={view} />
                        <input type="hidden" name="from" value={r.sender} />
                        <input type="hidden" name="taskId" value={String(r.id)} />
                        <label for={mapId}>{q.mappingTo}</label> <PersonSelect view={view} id={mapId} people={people} describedBy={err?.form === 'mapping' ? `${mapId}-error` : undefined} />{' '}
                        <button type="submit">{q.createMapping}</button>
                        {err?.form === 'mapping' && (
                          <span class="field-error" id={`${mapId}-error`} role="alert">
                            {err.message}
                          </span>
                        )}
                      </form>
                    ) : (
                      <p class="small not-staff">
                        {q.notStaff(r.sender)} <a href="/staff">{q.staffPage}</a>
                      </p>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}
