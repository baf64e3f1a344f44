import type { Child } from 'hono/jsx';
import type { OpenTaskRow } from '../../src/services/task-list.js';
import type { View } from '../view.js';

export const TASK_SORTS = ['created', 'sender', 'subject', 'status', 'assignee'] as const;
export const PER_PAGE = [10, 20, 50, 100] as const;

/** The filters, order and page of a task list as the URL carries them (strings as typed, '' = not set). */
export interface TaskListState {
  status: string;
  channel: string;
  activityType: string;
  assignee: string;
  sender: string;
  olderThanDays: string;
  sort: (typeof TASK_SORTS)[number];
  order: 'asc' | 'desc';
  page: number;
  perPage: number;
}

/** What the filter selects offer. */
export interface TaskListOptions {
  activityTypes: string[];
  /** staff with a login, for the assignee filter; omitted: no assignee filter (Meine Vorgänge) */
  assignees?: { login: string; name: string }[];
}

/** The list's URL for `state` (defaults and empty values left out), so a reload or bookmark shows the same. */
export function taskListUrl(base: string, state: TaskListState, change: Partial<TaskListState> = {}): string {
  const s = { ...state, ...change };
  const q = new URLSearchParams();
  for (const k of ['status', 'channel', 'activityType', 'assignee', 'sender', 'olderThanDays'] as const) if (s[k]) q.set(k, s[k]);
  if (s.sort !== 'created') q.set('sort', s.sort);
  if (s.order !== 'asc') q.set('order', s.order);
  if (s.perPage !== 20) q.set('perPage', String(s.perPage));
  if (s.page > 1) q.set('page', String(s.page));
  const text = q.toString();
  return text ? `${base}?${text}` : base;
}

const dateTime = (view: View, d: Date) => new Intl.DateTimeFormat(view.lang === 'de' ? 'de-DE' : 'en-GB', { dateStyle: 'medium', timeStyle: 'short' }).format(d);
export { dateTime };

/** htmx attributes of a link or form that swaps the list in place and keeps the URL in sync. */
const swap = (url: string) => ({ 'hx-get': url, 'hx-target': '#task-list', 'hx-swap': 'outerHTML', 'hx-push-url': 'true' });

function FieldError({ id, error }: { id: string; error?: string }) {
  return error ? (
    <span class="field-error" id={`${id}-error`} role="alert">
      {error}
    </span>
  ) : null;
}

/** A filter: its label, its control and the reason it was refused (beside it). */
function Field({ id, label, error, children }: { id: string; label: string; error?: string; children?: Child }) {
  return (
    <div class="filter-field">
      <label for={id}>{label}</label>
      {children}
      <FieldError id={id} error={error} />
    </div>
  );
}

function Filters({ view, base, state, options, error }: { view: View; base: string; state: TaskListState; options: TaskListOptions; error?: { field: string; message: string } }) {
  const t = view.t.tasksPages;
  const err = (field: string) => (error?.field === field ? error.message : undefined);
  const described = (field: string) => (err(field) ? `f-${field}-error` : undefined);
  return (
    <form method="get" action={base} class="task-filters" {...swap(base)}>
      <fieldset>
        <legend>{t.filters}</legend>
        <div class="filter-grid">
          <Field id="f-status" label={t.status} error={err('status')}>
            <select id="f-status" name="status" aria-describedby={described('status')}>
              <option value="">{t.any}</option>
              {['open', 'unassigned'].map((s) => (
                <option value={s} selected={state.status === s}>
                  {t.statusName[s]}
                </option>
              ))}
            </select>
          </Field>
          <Field id="f-channel" label={t.channel} error={err('channel')}>
            <select id="f-channel" name="channel" aria-describedby={described('channel')}>
              <option value="">{t.any}</option>
              {['general', 'scanner'].map((s) => (
                <option value={s} selected={state.channel === s}>
                  {t.channelName[s]}
                </option>
              ))}
            </select>
          </Field>
          <Field id="f-activityType" label={t.activityType} error={err('activityType')}>
            <select id="f-activityType" name="activityType" aria-describedby={described('activityType')}>
              <option value="">{t.any}</option>
              {options.activityTypes.map((a) => (
                <option value={a} selected={state.activityType.toLowerCase() === a.toLowerCase()}>
                  {a}
                </option>
              ))}
            </select>
          </Field>
          {options.assignees && (
            <Field id="f-assignee" label={t.assignee} error={err('assignee')}>
              <select id="f-assignee" name="assignee" aria-describedby={described('assignee')}>
                <option value="">{t.any}</option>
                <option value="none" selected={state.assignee === 'none'}>
                  {t.nobody}
                </option>
                {options.assignees.map((p) => (
                  <option value={p.login} selected={state.assignee.toLowerCase() === p.login.toLowerCase()}>
                    {p.name}
                  </option>
                ))}
              </select>
            </Field>
          )}
          <Field id="f-sender" label={t.sender} error={err('sender')}>
            <input id="f-sender" name="sender" type="search" value={state.sender} aria-describedby={described('sender')} />
          </Field>
          <Field id="f-olderThanDays" label={t.olderThanDays} error={err('olderThanDays')}>
            <input id="f-olderThanDays" name="olderThanDays" type="number" min="1" max="36500" value={state.olderThanDays} aria-describedby={described('olderThanDays')} />
          </Field>
          <Field id="f-perPage" label={t.perPage}>
            <select id="f-perPage" name="perPage">
              {PER_PAGE.map((n) => (
                <option value={String(n)} selected={state.perPage === n}>
                  {n}
                </option>
              ))}
            </select>
          </Field>
        </div>
        {state.sort !== 'created' && <input type="hidden" name="sort" value={state.sort} />}
        {state.order !== 'asc' && <input type="hidden" name="order" value={state.order} />}
        <div class="filter-buttons">
          <button type="submit">{t.apply}</button>{' '}
          <a href={base} {...swap(base)}>
            {t.reset}
          </a>
        </div>
      </fieldset>
    </form>
  );
}

function SortHeader({ view, base, state, column, label }: { view: View; base: string; state: TaskListState; column: TaskListState['sort']; label: string }) {
  const active = state.sort === column;
  const next: 'asc' | 'desc' = active && state.order === 'asc' ? 'desc' : 'asc';
  const url = taskListUrl(base, state, { sort: column, order: next, page: 1 });
  return (
    <th scope="col" aria-sort={active ? (state.order === 'asc' ? 'ascending' : 'descending') : undefined}>
      <a href={url} {...swap(url)} title={view.t.tasksPages.sortBy(label, next)} data-sort={column}>
        {label}
        {active ? (state.order === 'asc' ? ' ▲' : ' ▼') : ''}
      </a>
    </th>
  );
}

/**
 * The task list: filters, the table with sortable headers, pagination and the CSV export links
 * of the same filters. htmx swaps this whole fragment (`#task-list`) on every filter, sort or
 * page change and pushes the list's URL (the route also answers `HX-Push-Url` with the
 * canonical one), so reload and bookmarks show the same list. Mail-derived text only as JSX text.
 */
export function TasksTable(props: {
  view: View;
  base: string;
  state: TaskListState;
  options: TaskListOptions;
  result: { total: number; items: OpenTaskRow[] };
  error?: { field: string; message: string };
  /** where the CSV export links go (omitted: no export) */
  exportBase?: string;
}) {
  const { view, base, state, result } = props;
  const t = view.t.tasksPages;
  const c = t.columns;
  const pages = Math.max(1, Math.ceil(result.total / state.perPage));
  const from = result.total === 0 ? 0 : (state.page - 1) * state.perPage + 1;
  const to = Math.min(result.total, state.page * state.perPage);
  const filterQuery = taskListUrl('', { ...state, page: 1, perPage: 20 }).replace(/^\?/, '');
  const exportUrl = (excel: boolean) => {
    const q = new URLSearchParams(filterQuery);
    if (excel) q.set('excel', 'true');
    return q.size ? `${props.exportBase}?${q}` : props.exportBase!;
  };
  return (
    <div id="task-list">
      <Filters view={view} base={base} state={state} options={props.options} error={props.error} />
      <p class="list-summary" aria-live="polite">
        <span data-testid="total">{t.total(result.total)}</span>
        {result.total > 0 && <span class="muted"> · {t.range(from, to, result.total)}</span>}
        {props.exportBase && (
          <span class="exports">
            {' '}
            · {t.export}:{' '}
            <a href={exportUrl(false)} download>
              {t.exportCsv}
            </a>
            {' · '}
            <a href={exportUrl(true)} download>
              {t.exportExcel}
            </a>
          </span>
        )}
      </p>
      {result.items.length === 0 ? (
        <p class="message notice">{t.none}</p>
      ) : (
        <table class="tasks">
          <thead>
            <tr>
              <th scope="col">{c.id}</th>
              <SortHeader view={view} base={base} state={state} column="status" label={c.status} />
              <th scope="col">{c.channel}</th>
              <th scope="col">{c.activityType}</th>
              <SortHeader view={view} base={base} state={state} column="sender" label={c.sender} />
              <SortHeader view={view} base={base} state={state} column="subject" label={c.subject} />
              <SortHeader view={view} base={base} state={state} column="assignee" label={c.assignee} />
              <SortHeader view={view} base={base} state={state} column="created" label={c.created} />
            </tr>
          </thead>
          <tbody>
            {result.items.map((r) => (
              <tr data-task={String(r.id)}>
                <td class="num">
                  <a href={`/tasks/${r.id}`}>{r.id}</a>
                </td>
                <td>{t.statusName[r.status] ?? r.status}</td>
                <td>{t.channelName[r.channel] ?? r.channel}</td>
                <td>{r.activityType}</td>
                <td>{r.sender ? (r.senderName ? `${r.senderName} <${r.sender}>` : r.sender) : <span class="muted">{t.noSender}</span>}</td>
                <td class="subject">
                  <a href={`/tasks/${r.id}`}>{r.subject || t.noSubject}</a>
                  {r.unreadable && <span class="badge">{t.unreadable}</span>}
                  {r.automated && (
                    <span class="badge badge-automated" data-automated={r.automated} title={t.automatedTitle(t.automatedKind[r.automated] ?? r.automated)}>
                      {t.automated}: {t.automatedKind[r.automated] ?? r.automated}
                    </span>
                  )}
                </td>
                <td>{r.assignee?.name ?? '–'}</td>
                <td>{dateTime(view, r.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {pages > 1 && (
        <nav class="pagination" aria-label={t.pagination}>
          {state.page > 1 ? (
            <a href={taskListUrl(base, state, { page: state.page - 1 })} {...swap(taskListUrl(base, state, { page: state.page - 1 }))} rel="prev">
              {t.previous}
            </a>
          ) : (
            <span class="muted">{t.previous}</span>
          )}
          <span data-testid="page">{t.pageOf(state.page, pages)}</span>
          {state.page < pages ? (
            <a href={taskListUrl(base, state, { page: state.page + 1 })} {...swap(taskListUrl(base, state, { page: state.page + 1 }))} rel="next">
              {t.next}
            </a>
          ) : (
            <span class="muted">{t.next}</span>
          )}
        </nav>
      )}
    </div>
  );
}
