import type { PublicStaffRow } from '../../src/db/repositories/staff.js';
import type { DeactivationReport } from '../../src/services/staff-lifecycle.js';
import { CsrfField } from '../fragments/CsrfField.js';
import { errorAttrs, FieldError, Notice, type FieldErrors } from '../fragments/FormErrors.js';
import { StaffForm, type StaffFormValues } from '../fragments/StaffForm.js';
import { Layout } from '../layouts/Layout.js';
import type { View } from '../view.js';

/** The lines that tell an admin what a deactivation did to the person's tasks (staff-lifecycle). */
export function deactivationLines(view: View, report: DeactivationReport): string[] {
  const t = view.t.staffPages;
  const ids = (list: number[]) => (list.length ? ` ${t.taskIds(list.map((n) => `#${n}`).join(', '))}` : '');
  return [
    t.deactivated(report.staff.name),
    t.candidaciesEnded(report.candidaciesEnded.length) + ids(report.candidaciesEnded),
    t.nowUnassigned(report.unassigned.length) + ids(report.unassigned),
    t.stillAssigned(report.stillAssigned.length) + ids(report.stillAssigned),
  ];
}

/**
 * Editing one staff record (/staff/:id): the form, a password form for a person with a login (the
 * password goes to the argon2 service and is never shown back), and the way to deactivate.
 * `notice` lines report what the last action did.
 */
export function StaffEditPage({
  view,
  person,
  form,
  errors,
  passwordErrors,
  notice,
}: {
  view: View;
  person: PublicStaffRow;
  form: StaffFormValues;
  errors?: FieldErrors;
  passwordErrors?: FieldErrors;
  notice?: string | string[];
}) {
  const t = view.t.staffPages;
  return (
    <Layout view={view} title={t.editTitle(person.name)}>
      <Notice text={notice} />
      <p>
        <a href="/staff">{t.back}</a>
      </p>
      <StaffForm view={view} action={`/staff/${person.id}`} values={form} errors={errors} mode="edit" />
      <section aria-labelledby="pw-h">
        <h2 id="pw-h">{t.passwordTitle}</h2>
        {person.login ? (
          <form method="post" action={`/staff/${person.id}/password`} class="stack narrow" data-testid="password-form">
            <CsrfField view={view} />
            <p class="muted">{t.passwordIntro}</p>
            <label for="staff-password">{t.password}</label>
            <input id="staff-password" name="password" type="password" autocomplete="new-password" required {...errorAttrs(passwordErrors, 'password', 'staff-password')} />
            <FieldError errors={passwordErrors} field="password" id="staff-password" />
            <FieldError errors={passwordErrors} field="login" id="staff-password-login" />
            <button type="submit">{t.passwordSubmit}</button>
          </form>
        ) : (
          <p class="muted">{t.passwordNoLogin}</p>
        )}
      </section>
      <section aria-labelledby="deact-h">
        <h2 id="deact-h">{t.deactivateTitle}</h2>
        {person.active ? (
          <>
            <p>{t.deactivateIntro}</p>
            <p>
              <a class="button danger" href={`/staff/${person.id}/deactivate`}>
                {t.deactivateButton}
              </a>
            </p>
          </>
        ) : (
          <p class="muted">{t.alreadyInactive}</p>
        )}
      </section>
    </Layout>
  );
}

/** The confirmation before deactivating (/staff/:id/deactivate): what will happen, and a POST button. */
export function StaffDeactivatePage({ view, person }: { view: View; person: PublicStaffRow }) {
  const t = view.t.staffPages;
  return (
    <Layout view={view} title={t.deactivateConfirmTitle(person.name)}>
      <p>{t.deactivateIntro}</p>
      <form method="post" action={`/staff/${person.id}/deactivate`} class="actions">
        <CsrfField view={view} />
        <button type="submit" class="danger" autofocus>
          {t.deactivateConfirm}
        </button>{' '}
        <a href={`/staff/${person.id}`}>{t.cancel}</a>
      </form>
    </Layout>
  );
}
