import { localizeRefusal } from '../i18n/refusals.js';
import type { View } from '../view.js';

/** One step of a connection test (mailbox: connect → tls → login → folder → fetch; SMTP: … → send). */
export interface StepResult {
  step: string;
  ok: boolean;
  /** plain words from the service: what happened, or why it failed */
  detail: string;
}

/**
 * The result of a connection test or a test mail, step by step, swapped in by htmx under the
 * button (`id` is the target). Each step says ok or failed with the service's plain-words detail;
 * the summary names the failing step. `message` replaces the list (nothing to test, bad address).
 */
export function TestSteps({ view, id, steps, message }: { view: View; id: string; steps?: StepResult[]; message?: string }) {
  const t = view.t.settingsPages.mailbox;
  const failed = steps?.find((s) => !s.ok);
  return (
    <div id={id} class="test-result" aria-live="polite">
      {message && (
        <p class="message error" role="alert">
          {message}
        </p>
      )}
      {steps && steps.length > 0 && (
        <>
          <h4>{t.testHeading}</h4>
          <ol class="steps" data-testid={`${id}-steps`}>
            {steps.map((s) => (
              <li class={s.ok ? 'step ok' : 'step failed'} data-step={s.step} data-ok={s.ok ? 'true' : 'false'}>
                <span class="step-name">{t.steps[s.step] ?? s.step}</span>
                {': '}
                <strong class="step-state">{s.ok ? t.ok : t.failed}</strong>
                {' – '}
                <span class="step-detail">{localizeRefusal(s.detail, view.lang)}</span>
              </li>
            ))}
          </ol>
          <p class={failed ? 'message error' : 'message notice'} role={failed ? 'alert' : 'status'}>
            {failed ? t.failedAt(t.steps[failed.step] ?? failed.step) : t.allOk}
          </p>
        </>
      )}
    </div>
  );
}
