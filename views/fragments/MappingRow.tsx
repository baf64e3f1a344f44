import { FieldError, errorAttrs, type FieldErrors } from './FormErrors.js';
import type { View } from '../view.js';

/** A mapping row as shown: Von and the An person. */
export interface MappingRowData {
  id: number;
  from: string;
  toStaffId: number;
  toLogin: string | null;
  toName: string;
  /** false: An is no longer active, or lost the login or mail.import — the mapping routes nothing */
  toEligible?: boolean;
}

/** What the editing row offers: active staff e-mails for Von, eligible staff (active, login, mail.import) for An. */
export interface MappingChoices {
  emails: string[];
  eligible: { id: number; name: string; login: string }[];
}

/** The status cell's content after an action: saved, the waiting tasks offer, a routing result or error. */
export interface MappingStatus {
  saved?: boolean;
  /** readable unassigned tasks waiting from the row's sender (an offer to route them) */
  waiting?: number;
}

const toLabel = (r: { toName: string; toLogin: string | null }) => (r.toLogin ? `${r.toName} (${r.toLogin})` : r.toName);

/**
 * One row of the grid, Von → An, with *Bearbeiten* (swaps in {@link MappingEditRow}) and *Löschen*
 * (htmx DELETE, the row is removed). The page renders the same component; htmx swaps it in place.
 * `status` shows what saving did, with the offer to route the waiting unassigned tasks.
 */
export function MappingRow({ view, row, status }: { view: View; row: MappingRowData; status?: MappingStatus }) {
  const t = view.t.mappingPages;
  return (
    <tr id={`mapping-${row.id}`} data-mapping-id={row.id}>
      <td class="from">{row.from}</td>
      <td class="to">
        {toLabel(row)}
        {row.toEligible === false && (
          <span class="badge warn" title={t.notEffectiveHint}>
            {' '}
            {t.notEffective}
          </span>
        )}
      </td>
      <td class="actions">
        <button type="button" class="secondary" hx-get={`/mappings/${row.id}/edit`} hx-target="closest tr" hx-swap="outerHTML" aria-label={`${t.edit}: ${row.from} → ${toLabel(row)}`}>
          {t.edit}
        </button>{' '}
        <button
          type="button"
          class="secondary danger"
          hx-delete={`/mappings/${row.id}`}
          hx-target="closest tr"
          hx-swap="delete"
          hx-confirm={t.confirmDelete(row.from, toLabel(row))}
          aria-label={`${t.delete}: ${row.from} → ${toLabel(row)}`}
        >
          {t.delete}
        </button>
      </td>
      <td class="status" aria-live="polite">
        {status?.saved && <span role="status">{t.saved}</span>}
        {status?.waiting ? (
          <span class="offer">
            {' '}
            {t.waiting(status.waiting, row.from)}{' '}
            <button type="button" name="from" value={row.from} hx-post="/mappings/route" hx-target="closest td" hx-swap="innerHTML">
              {t.route}
            </button>
          </span>
        ) : null}
      </td>
    </tr>
  );
}

/**
 * A row being edited or added: Von as an e-mail input offering the active staff e-mails
 * (datalist), An as a select of the eligible staff; Enter in Von or *Speichern* saves (htmx POST for
 * a new row, PUT for an existing one) and the answer replaces the row: the shown row, or this row
 * again with the reason beside the field (400). *Abbrechen* restores the row or removes the new one.
 * @param key unique per row on the page (the row's id, or a random key for a new one)
 */
export function MappingEditRow({
  view,
  id,
  key,
  from,
  toStaffId,
  choices,
  errors,
  current,
}: {
  view: View;
  id?: number;
  key: string;
  from: string;
  toStaffId?: number;
  choices: MappingChoices;
  errors?: FieldErrors;
  /** the row's present An when it is no longer eligible (still shown, so that nothing changes silently) */
  current?: { id: number; name: string; login: string | null };
}) {
  const t = view.t.mappingPages;
  const f = `mapping-form-${key}`;
  const eligible = current && !choices.eligible.some((e) => e.id === current.id) ? [...choices.eligible, { ...current, login: current.login ?? t.noLogin }] : choices.eligible;
  const verb = id === undefined ? { 'hx-post': '/mappings' } : { 'hx-put': `/mappings/${id}` };
  return (
    <tr id={id === undefined ? `mapping-new-${key}` : `mapping-${id}`} class="editing" data-mapping-id={id}>
      <td class="from">
        <form id={f} {...verb} hx-target="closest tr" hx-swap="outerHTML"></form>
        <label for={`${f}-from`} class="visually-hidden">
          {t.fromLabel}
        </label>
        <input id={`${f}-from`} form={f} name="from" type="email" required autocomplete="off" list={`${f}-emails`} value={from} autofocus {...errorAttrs(errors, 'from', `${f}-from`)} />
        <datalist id={`${f}-emails`}>
          {choices.emails.map((e) => (
            <option value={e} />
          ))}
        </datalist>
        <FieldError errors={errors} field="from" id={`${f}-from`} />
      </td>
      <td class="to">
        <label for={`${f}-to`} class="visually-hidden">
          {t.toLabel}
        </label>
        <select id={`${f}-to`} form={f} name="to" required {...errorAttrs(errors, 'to', `${f}-to`)}>
          <option value="">{t.chooseTo}</option>
          {eligible.map((e) => (
            <option value={String(e.id)} selected={e.id === toStaffId}>
              {`${e.name} (${e.login})`}
            </option>
          ))}
        </select>
        <FieldError errors={errors} field="to" id={`${f}-to`} />
      </td>
      <td class="actions">
        <button type="submit" form={f}>
          {t.save}
        </button>{' '}
        {id === undefined ? (
          <button type="button" class="secondary" hx-get="/mappings/cancel" hx-target="closest tr" hx-swap="delete">
            {t.cancel}
          </button>
        ) : (
          <button type="button" class="secondary" hx-get={`/mappings/${id}`} hx-target="closest tr" hx-swap="outerHTML">
            {t.cancel}
          </button>
        )}
      </td>
      <td class="status">
        <FieldError errors={errors} field="_form" id={`${f}-form`} />
      </td>
    </tr>
  );
}

/** The answer to *Jetzt zuordnen*: how many waiting tasks were routed, or why not (replaces the offer). */
export function MappingRouteResult({ view, routed, error }: { view: View; routed?: number; error?: string }) {
  return error ? (
    <span class="field-error">{error}</span>
  ) : (
    <span role="status" data-routed={routed}>
      {view.t.mappingPages.routed(routed ?? 0)}
    </span>
  );
}
