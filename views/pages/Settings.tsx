import type { Child } from 'hono/jsx';
import { CsrfField } from '../fragments/CsrfField.js';
import { CheckField, Group, SelectField, TextField, type Errors, type Values } from '../fragments/SettingsFields.js';
import { TestSteps } from '../fragments/SettingsSteps.js';
import { localizeRefusal } from '../i18n/refusals.js';
import { Layout } from '../layouts/Layout.js';
import type { View } from '../view.js';

/** The after-import actions offered (`move` takes the folder from its own field: `move:<folder>`). */
const AFTER_IMPORT_ACTIONS = ['seen', 'move', 'delete', 'keep'] as const;

/** The tabs of the settings page, by their slug in `/settings?tab=…`. */
export const SETTINGS_TABS = ['general', 'scanner', 'sending', 'import'] as const;
export type SettingsTab = (typeof SETTINGS_TABS)[number];
export type ChannelName = 'general' | 'scanner';
/** The channel of an Empfang tab. */
export const TAB_CHANNEL: Partial<Record<SettingsTab, ChannelName>> = { general: 'general', scanner: 'scanner' };

export const settingsPath = (tab: SettingsTab) => `/settings?tab=${tab}`;

function tabLabel(view: View, tab: SettingsTab): string {
  const t = view.t.settingsPages.tabs;
  return t[tab];
}

/**
 * The settings page: the reference's four tabs as links (a `nav` whose current tab carries
 * `aria-current="page"`), a notice or the refusal summary, and the tab's content.
 */
export function SettingsPage({ view, tab, notice, invalid, children }: { view: View; tab: SettingsTab; notice?: string; invalid?: boolean; children?: Child }) {
  const t = view.t.settingsPages;
  return (
    <Layout view={view} title={t.title}>
      <link rel="stylesheet" href="/static/settings.css" />
      <nav class="tabs" aria-label={t.tabsLabel}>
        <ul>
          {SETTINGS_TABS.map((s) => (
            <li>
              <a href={settingsPath(s)} aria-current={s === tab ? 'page' : undefined}>
                {tabLabel(view, s)}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <h2>{tabLabel(view, tab)}</h2>
      {notice && (
        <p class="message notice" role="status">
          {notice}
        </p>
      )}
      {invalid && (
        <p class="message error" role="alert">
          {t.invalidForm}
        </p>
      )}
      {children}
    </Layout>
  );
}

/** Health of a stored mailbox, as shown beside its form. */
export interface MailboxHealth {
  lastSuccessAt: Date | null;
  lastError: string | null;
}

function when(view: View, d: Date | null): string {
  return d ? new Intl.DateTimeFormat(view.lang === 'de' ? 'de-DE' : 'en-GB', { dateStyle: 'medium', timeStyle: 'medium' }).format(d) : view.t.settingsPages.mailbox.never;
}

/**
 * The mailbox form of a channel. The password field is always empty: the stored password never
 * goes to the browser; an empty field keeps it. "Verbindung testen" posts with htmx and swaps the
 * step list into `#mailbox-test-<channel>`.
 */
export function MailboxForm({ view, channel, values, errors, stored, health }: { view: View; channel: ChannelName; values: Values; errors?: Errors; stored: boolean; health?: MailboxHealth | null }) {
  const t = view.t.settingsPages.mailbox;
  const f = `mb-${channel}`;
  const v = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : '');
  const sec = t.securityOptions;
  return (
    <section aria-labelledby={`${f}-h`}>
      <h3 id={`${f}-h`}>{t.heading}</h3>
      {!stored && <p class="muted">{t.none}</p>}
      {stored && health && (
        <dl>
          <dt>{t.health}</dt>
          <dd>{when(view, health.lastSuccessAt)}</dd>
          {health.lastError && (
            <>
              <dt>{t.lastError}</dt>
              <dd>{localizeRefusal(health.lastError, view.lang)}</dd>
            </>
          )}
        </dl>
      )}
      <form method="post" action={`/settings/mailbox/${channel}`} class="settings-form" novalidate data-testid={`mailbox-form-${channel}`}>
        <CsrfField view={view} />
        <Group legend={t.heading} legendHidden>
          <SelectField form={f} name="protocol" label={t.protocol} value={v('protocol') || 'imap'} options={[['imap', 'IMAP'], ['pop3', 'POP3']]} errors={errors} />
          <TextField form={f} name="host" label={t.host} value={v('host')} errors={errors} />
          <TextField form={f} name="port" label={t.port} value={v('port')} inputmode="numeric" hint={t.portHint} errors={errors} />
          <SelectField form={f} name="security" label={t.security} value={v('security') || 'tls'} options={[['tls', sec.tls], ['starttls', sec.starttls], ['none', sec.none]]} errors={errors} />
          <TextField form={f} name="user" label={t.user} value={v('user')} errors={errors} />
          <TextField form={f} name="password" label={t.password} type="password" value="" autocomplete="new-password" hint={stored ? t.passwordKeep : t.passwordNew} errors={errors} />
          <TextField form={f} name="folder" label={t.folder} value={v('folder')} errors={errors} />
          <SelectField
            form={f}
            name="afterImport"
            label={t.afterImport}
            value={v('afterImport').startsWith('move:') ? 'move' : v('afterImport')}
            options={AFTER_IMPORT_ACTIONS.map((a) => [a, t.afterImportActions[a] ?? a])}
            hint={t.afterImportHint}
            errors={errors}
          />
          <TextField form={f} name="afterImportFolder" label={t.afterImportFolder} value={v('afterImport').startsWith('move:') ? v('afterImport').slice(5) : ''} hint={t.afterImportFolderHint} errors={errors} />
          <TextField form={f} name="caFile" label={t.caFile} value={v('caFile')} hint={t.caFileHint} errors={errors} />
          <CheckField form={f} name="tlsLegacy" label={t.tlsLegacy} checked={values.tlsLegacy === true} errors={errors} />
          <TextField form={f} name="importSince" label={t.importSince} type="date" value={v('importSince')} errors={errors} />
          <CheckField form={f} name="enabled" label={t.enabled} checked={values.enabled === true} errors={errors} />
        </Group>
        <button type="submit">{view.t.settingsPages.save}</button>
      </form>
      <div class="test-box">
        <button type="button" class="secondary" hx-post={`/settings/mailbox/${channel}/test`} hx-target={`#mailbox-test-${channel}`} hx-swap="outerHTML" disabled={!stored}>
          {t.test}
        </button>{' '}
        <small class="muted">{t.testHint}</small>
        <TestSteps view={view} id={`mailbox-test-${channel}`} />
      </div>
    </section>
  );
}

/** The inbound addresses of a channel: a list with a remove button each, and a form to add one. */
export function AddressList({ view, channel, addresses, value, errors }: { view: View; channel: ChannelName; addresses: string[]; value?: string; errors?: Errors }) {
  const t = view.t.settingsPages.addresses;
  return (
    <section aria-labelledby={`addr-${channel}-h`}>
      <h3 id={`addr-${channel}-h`}>{t.heading}</h3>
      <p class="muted">{t.intro}</p>
      {addresses.length === 0 ? (
        <p>{t.none}</p>
      ) : (
        <ul class="addresses" data-testid={`addresses-${channel}`}>
          {addresses.map((a) => (
            <li>
              <span>{a}</span>{' '}
              <form method="post" action={`/settings/addresses/${channel}/remove`} class="inline">
                <CsrfField view={view} />
                <input type="hidden" name="address" value={a} />
                <button type="submit" class="secondary" aria-label={t.removeLabel(a)}>
                  {t.remove}
                </button>
              </form>
            </li>
          ))}
        </ul>
      )}
      <form method="post" action={`/settings/addresses/${channel}`} class="settings-form inline-form" novalidate>
        <CsrfField view={view} />
        <TextField form={`addr-${channel}`} name="address" label={t.address} type="email" value={value} errors={errors} />
        <button type="submit">{t.add}</button>
      </form>
    </section>
  );
}

/** What the SMTP receiver does, read-only (it comes from the configuration). */
export interface ReceiverFacts {
  listening: string | null;
  configured: string;
  networks: string[];
}

export function ReceiverInfo({ view, facts }: { view: View; facts: ReceiverFacts }) {
  const t = view.t.settingsPages.receiver;
  return (
    <section aria-labelledby="receiver-h" data-testid="receiver">
      <h3 id="receiver-h">{t.heading}</h3>
      <dl>
        <dt>{t.listening}</dt>
        <dd>{facts.listening ?? t.notRunning}</dd>
        <dt>{t.configured}</dt>
        <dd>{facts.configured}</dd>
        <dt>{t.allowed}</dt>
        <dd>{facts.networks.join(', ')}</dd>
      </dl>
      <p class="muted">{t.hint}</p>
    </section>
  );
}

/** The central SMTP account (Versand); the password field is always empty (an empty field keeps the stored one). */
export function SmtpAccountForm({ view, values, errors, stored, hasPassword }: { view: View; values: Values; errors?: Errors; stored: boolean; hasPassword: boolean }) {
  const t = view.t.settingsPages.sending;
  const m = view.t.settingsPages.mailbox;
  const f = 'smtp';
  const v = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : '');
  return (
    <section aria-labelledby="smtp-h">
      <h3 id="smtp-h">{t.heading}</h3>
      {!stored && <p class="muted">{t.none}</p>}
      <form method="post" action="/settings/smtp" class="settings-form" novalidate data-testid="smtp-form">
        <CsrfField view={view} />
        <Group legend={t.heading} legendHidden>
          <TextField form={f} name="host" label={t.host} value={v('host')} errors={errors} />
          <TextField form={f} name="port" label={t.port} value={v('port')} inputmode="numeric" hint={t.portHint} errors={errors} />
          <SelectField form={f} name="security" label={t.security} value={v('security') || 'starttls'} options={[['tls', m.securityOptions.tls], ['starttls', m.securityOptions.starttls], ['none', m.securityOptions.none]]} errors={errors} />
          <SelectField form={f} name="auth" label={t.auth} value={v('auth') || 'none'} options={[['none', t.authOptions.none], ['plain', t.authOptions.plain], ['login', t.authOptions.login]]} errors={errors} />
          <TextField form={f} name="user" label={t.user} value={v('user')} errors={errors} />
          <TextField form={f} name="password" label={t.password} type="password" value="" autocomplete="new-password" hint={hasPassword ? m.passwordKeep : undefined} errors={errors} />
          <TextField form={f} name="from" label={t.fromAddress} type="email" value={v('from')} errors={errors} />
          <TextField form={f} name="fromName" label={t.fromName} value={v('fromName')} errors={errors} />
          <TextField form={f} name="caFile" label={t.caFile} value={v('caFile')} hint={m.caFileHint} errors={errors} />
          <CheckField form={f} name="tlsLegacy" label={t.tlsLegacy} checked={values.tlsLegacy === true} errors={errors} />
        </Group>
        <button type="submit">{view.t.settingsPages.save}</button>
      </form>
      <p>
        <a href="/outbox">{t.outboxLink}</a>
      </p>
    </section>
  );
}

/** The bounds of the sending limits, as the form shows them (services/send-limits.ts SEND_LIMIT_BOUNDS). */
export interface SendLimitBounds {
  maxRecipients: { min: number; max: number };
  maxPerMinute: { min: number; max: number };
}

/**
 * The sending limits per person (Versandgrenzen): recipients per message and messages per minute,
 * a plain POST to `/settings/send-limits` with the CSRF field; `errors` holds the reasons, already
 * in the page's language.
 */
export function SendLimitsForm({ view, values, errors, bounds, defaults }: { view: View; values: Values; errors?: Errors; bounds: SendLimitBounds; defaults: boolean }) {
  const t = view.t.settingsPages.sending.limits;
  const f = 'limits';
  const v = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : '');
  return (
    <section aria-labelledby="limits-h">
      <h3 id="limits-h">{t.heading}</h3>
      <p class="muted">{t.intro}</p>
      {defaults && <p class="muted">{t.defaults}</p>}
      <form method="post" action="/settings/send-limits" class="settings-form" novalidate data-testid="send-limits-form">
        <CsrfField view={view} />
        <Group legend={t.heading} legendHidden>
          <TextField form={f} name="maxRecipients" label={t.maxRecipients} value={v('maxRecipients')} inputmode="numeric" hint={t.maxRecipientsHint(bounds.maxRecipients.min, bounds.maxRecipients.max)} errors={errors} />
          <TextField form={f} name="maxPerMinute" label={t.maxPerMinute} value={v('maxPerMinute')} inputmode="numeric" hint={t.maxPerMinuteHint(bounds.maxPerMinute.min, bounds.maxPerMinute.max)} errors={errors} />
        </Group>
        <button type="submit">{view.t.settingsPages.save}</button>
      </form>
    </section>
  );
}

/** "Testmail senden": posts with htmx and swaps the step list (or the refusal) into `#smtp-test`. */
export function SmtpTestForm({ view, stored }: { view: View; stored: boolean }) {
  const t = view.t.settingsPages.sending;
  return (
    <section aria-labelledby="smtp-test-h">
      <h3 id="smtp-test-h">{t.testHeading}</h3>
      <p class="muted">{t.testHint}</p>
      <form hx-post="/settings/smtp/test" hx-target="#smtp-test" hx-swap="outerHTML" class="settings-form inline-form" novalidate>
        <TextField form="smtp-test" name="to" label={t.testTo} type="email" />
        <button type="submit" disabled={!stored}>
          {t.testSubmit}
        </button>
      </form>
      <TestSteps view={view} id="smtp-test" />
    </section>
  );
}

/** The import settings of one channel (Automatisches Einlesen) and its activity type. */
export function ImportForm({ view, channel, values, errors, activityTypes }: { view: View; channel: ChannelName; values: Values; errors?: Errors; activityTypes: string[] }) {
  const t = view.t.settingsPages.import;
  const f = `imp-${channel}`;
  const channelName = view.t.settingsPages.tabs[channel];
  return (
    <section aria-labelledby={`${f}-h`}>
      <h3 id={`${f}-h`}>{t.heading(channelName)}</h3>
      <form method="post" action={`/settings/import/${channel}`} class="settings-form" novalidate data-testid={`import-form-${channel}`}>
        <CsrfField view={view} />
        <Group legend={channelName}>
          <CheckField form={f} name="autoImport" label={t.autoImport} checked={values.autoImport === true} errors={errors} />
          <TextField form={f} name="pollIntervalMinutes" label={t.interval} value={String(values.pollIntervalMinutes ?? '')} inputmode="numeric" hint={t.intervalHint} errors={errors} />
          <CheckField form={f} name="autoComplete" label={t.autoComplete} checked={values.autoComplete === true} errors={errors} />
          <SelectField form={f} name="activityType" label={t.activityType} value={String(values.activityType ?? '')} options={activityTypes.map((a) => [a, a])} errors={errors} />
        </Group>
        <button type="submit">{view.t.settingsPages.save}</button>
      </form>
    </section>
  );
}
