import type { PublicStaffRow } from '../../src/db/repositories/staff.js';
import { Notice, type FieldErrors } from '../fragments/FormErrors.js';
import { StaffForm, type StaffFormValues } from '../fragments/StaffForm.js';
import { Layout } from '../layouts/Layout.js';
import type { View } from '../view.js';

/**
 * "Mitarbeiter*innen" (/staff): every staff record (name, e-mail, Aktuell, external, login, role,
 * mail.import) with a link to edit it, and the form for a new one. Inactive people are shown too,
 * marked "nein" under Aktuell.
 */
export function StaffPage({ view, staff, form, errors, notice }: { view: View; staff: PublicStaffRow[]; form: StaffFormValues; errors?: FieldErrors; notice?: string }) {
  const t = view.t.staffPages;
  const yesNo = (b: boolean) => (b ? t.yes : t.no);
  return (
    <Layout view={view} title={t.title}>
      <Notice text={notice} />
      <p class="muted">{t.intro}</p>
      <p class="muted">{t.count(staff.length)}</p>
      <table class="staff-list" data-testid="staff-table">
        <thead>
          <tr>
            <th scope="col">{t.name}</th>
            <th scope="col">{t.email}</th>
            <th scope="col">{t.active}</th>
            <th scope="col">{t.external}</th>
            <th scope="col">{t.login}</th>
            <th scope="col">{t.role}</th>
            <th scope="col">{t.mailImportShort}</th>
            <th scope="col">{t.actions}</th>
          </tr>
        </thead>
        <tbody>
          {staff.map((s) => (
            <tr data-staff-id={s.id} class={s.active ? undefined : 'inactive'}>
              <td>{s.name}</td>
              <td>{s.email}</td>
              <td>{yesNo(s.active)}</td>
              <td>{yesNo(s.external)}</td>
              <td>{s.login ?? t.none}</td>
              <td>{t.roles[s.role]}</td>
              <td>{yesNo(s.mailImport)}</td>
              <td>
                <a href={`/staff/${s.id}`} aria-label={`${t.edit}: ${s.name}`}>
                  {t.edit}
                </a>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2 id="new-staff">{t.newTitle}</h2>
      <StaffForm view={view} action="/staff" values={form} errors={errors} mode="create" />
    </Layout>
  );
}
