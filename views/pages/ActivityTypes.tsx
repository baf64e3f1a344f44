import type { ActivityTypeView } from '../../src/services/activity-types.js';
import { CHANNELS, type Channel } from '../../src/db/schema.js';
import { CsrfField } from '../fragments/CsrfField.js';
import { errorAttrs, FieldError, FormAlert, Notice, type FieldErrors } from '../fragments/FormErrors.js';
import { Layout } from '../layouts/Layout.js';
import type { View } from '../view.js';

/** What the page's forms show again after a refusal. */
export interface ActivityTypeForms {
  /** the name typed into the create form */
  newName?: string;
  /** the name typed into a row's rename form, by type id */
  rename?: { id: number; name: string };
  /** the activity type names chosen per channel */
  channels?: Partial<Record<Channel, string>>;
}

/**
 * "Tätigkeiten" (/activity-types): every type with the channels using it and its number of tasks, a
 * rename form per row, a create form, and the choice of the type for general mail and for scans.
 * Errors: `name` (create), `rename-<id>` (a row), `channel-<channel>` (the choice).
 */
export function ActivityTypesPage({
  view,
  types,
  current,
  forms = {},
  errors,
  notice,
}: {
  view: View;
  types: ActivityTypeView[];
  /** the activity type name each channel uses now */
  current: Record<Channel, string>;
  forms?: ActivityTypeForms;
  errors?: FieldErrors;
  notice?: string;
}) {
  const t = view.t.activityTypePages;
  const chosen = { ...current, ...forms.channels };
  return (
    <Layout view={view} title={t.title}>
      <Notice text={notice} />
      <FormAlert errors={errors} message={t.formError} />
      <p class="muted">{t.intro}</p>
      <table data-testid="activity-types">
        <thead>
          <tr>
            <th scope="col">{t.name}</th>
            <th scope="col">{t.usedFor}</th>
            <th scope="col" class="num">
              {t.tasks}
            </th>
            <th scope="col">{t.rename}</th>
          </tr>
        </thead>
        <tbody>
          {types.map((a) => {
            const id = `rename-${a.id}`;
            return (
              <tr data-activity-type-id={a.id}>
                <td>{a.name}</td>
                <td>{a.channels.length ? a.channels.map((ch) => t.channel[ch]).join(', ') : t.none}</td>
                <td class="num">{a.tasks}</td>
                <td>
                  <form method="post" action={`/activity-types/${a.id}/rename`} class="inline">
                    <CsrfField view={view} />
                    <label for={id} class="visually-hidden">
                      {t.renameLabel(a.name)}
                    </label>
                    <input id={id} name="name" required value={forms.rename?.id === a.id ? forms.rename.name : a.name} {...errorAttrs(errors, id, id)} />{' '}
                    <button type="submit">{t.rename}</button>
                    <FieldError errors={errors} field={id} id={id} />
                  </form>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>

      <h2 id="new-type-h">{t.createTitle}</h2>
      <form method="post" action="/activity-types" class="stack narrow" aria-labelledby="new-type-h">
        <CsrfField view={view} />
        <label for="activity-type-name">{t.name}</label>
        <input id="activity-type-name" name="name" required value={forms.newName ?? ''} {...errorAttrs(errors, 'name', 'activity-type-name')} />
        <FieldError errors={errors} field="name" id="activity-type-name" />
        <button type="submit">{t.create}</button>
      </form>

      <h2 id="channels-h">{t.channelsTitle}</h2>
      <form method="post" action="/activity-types/channels" class="stack narrow" aria-labelledby="channels-h">
        <CsrfField view={view} />
        {CHANNELS.map((ch) => {
          const id = `channel-${ch}`;
          return (
            <>
              <label for={id}>{t.channel[ch]}</label>
              <select id={id} name={ch} {...errorAttrs(errors, id, id)}>
                {types.map((a) => (
                  <option value={a.name} selected={chosen[ch] === a.name}>
                    {a.name}
                  </option>
                ))}
              </select>
              <FieldError errors={errors} field={id} id={id} />
            </>
          );
        })}
        <button type="submit">{t.channelsSave}</button>
      </form>
    </Layout>
  );
}
