import { Hono, type Context } from 'hono';
import type { JSX } from 'hono/jsx/jsx-runtime';
import { TestSteps } from '../../../views/fragments/SettingsSteps.js';
import type { Errors, Values } from '../../../views/fragments/SettingsFields.js';
import { localizeRefusal } from '../../../views/i18n/refusals.js';
import { refusalText } from '../../../views/i18n/coded-refusals.js';
import {
  AddressList,
  ImportForm,
  MailboxForm,
  ReceiverInfo,
  SETTINGS_TABS,
  SendLimitsForm,
  SettingsPage,
  settingsPath,
  SmtpAccountForm,
  SmtpTestForm,
  TAB_CHANNEL,
  type ChannelName,
  type ReceiverFacts,
  type SettingsTab,
} from '../../../views/pages/Settings.js';
import type { AppContext } from '../../context.js';
import { CHANNELS } from '../../db/schema.js';
import { listActivityTypes } from '../../services/activity-types.js';
import { addInboundAddress, listInboundAddresses, removeInboundAddress } from '../../services/addresses.js';
import { NotFoundError, ValidationError } from '../../services/errors.js';
import { setMailbox, showMailbox } from '../../services/mailboxes.js';
import { getSendLimits, SEND_LIMIT_BOUNDS, setSendLimits } from '../../services/send-limits.js';
import { changeChannelSettings, listChannelSettings } from '../../services/settings.js';
import { setSmtpAccount, showSmtpAccount, testSmtpAccount } from '../../services/smtp-account.js';
import { fragment, page, view, type AdminEnv } from './render.js';

/** What a refused form brings back: the entered values and the reason by field. */
interface Refusal {
  channel?: ChannelName;
  values: Values;
  errors: Errors;
}

type Form = Record<string, string | File | (string | File)[]>;
const text = (form: Form, k: string) => (typeof form[k] === 'string' ? (form[k] as string) : '');
const ticked = (form: Form, k: string) => form[k] === 'on';
const day = (d: Date | null | undefined) => (d ? d.toISOString().slice(0, 10) : '');

/** The service's field name → the form's input name, where they differ. */
const FORM_FIELD: Record<string, string> = { username: 'user', fromAddress: 'from' };
const refusal = (err: ValidationError, values: Values, channel?: ChannelName): Refusal => ({ channel, values, errors: { [FORM_FIELD[err.field] ?? err.field]: err.message } });

function parseChannelParam(value: string): ChannelName {
  if (!(CHANNELS as readonly string[]).includes(value)) throw new NotFoundError(`there is no channel ${value}; use general or scanner`);
  return value as ChannelName;
}

/** `host:port`, with IPv6 addresses in brackets. */
const hostPort = (a: { address: string; port: number }) => (a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`);

/**
 * The settings pages (issue 6 item 3, issue 7 item 5): `GET /settings?tab=general|scanner|
 * sending|import` (`/einstellungen` redirects there), and the forms behind them, each a plain POST
 * (CSRF field) answered with 303 back to its tab, or with the tab again (400) showing the reason
 * beside the refused field and the other entered values kept:
 * - `POST /settings/mailbox/:channel` — services/mailboxes.ts setMailbox; an empty password keeps the stored one
 * - `POST /settings/mailbox/:channel/test` (htmx) — ctx.mailboxes.test, the steps as a fragment
 * - `POST /settings/addresses/:channel` and `…/remove` — inbound addresses (services/addresses.ts)
 * - `POST /settings/smtp` — services/smtp-account.ts setSmtpAccount; `…/smtp/test` (htmx) its test mail
 * - `POST /settings/send-limits` — services/send-limits.ts setSendLimits (recipients per message,
 *   messages per person per minute), on the Versand tab
 * - `POST /settings/import/:channel` — services/settings.ts changeChannelSettings
 * Stored passwords are never sent to the browser.
 */
export function settingsRoutes(ctx: AppContext): Hono<AdminEnv> {
  const app = new Hono<AdminEnv>();

  const receiverFacts = (): ReceiverFacts => ({
    listening: ctx.listeners?.smtp ? [ctx.listeners.smtp, ctx.listeners.smtpTls].filter((a) => a !== null).map(hostPort).join(', ') : null,
    configured: hostPort({ address: ctx.config.SMTP_HOST, port: ctx.config.SMTP_PORT }),
    networks: ctx.config.SMTP_ALLOWED_NETWORKS.map(([addr, bits]) => `${addr.toString()}/${bits}`),
  });

  /** Renders a tab; `refused` puts the entered values and the reason back into the refused form. */
  async function renderTab(c: Context<AdminEnv>, tab: SettingsTab, opts: { notice?: string; refused?: Refusal; addressRefused?: Refusal; limitsRefused?: { values: Values; error: ValidationError } } = {}) {
    const v = view(c);
    const localized = (r?: Refusal): Refusal | undefined => r && { ...r, errors: Object.fromEntries(Object.entries(r.errors).map(([k, m]) => [k, m && localizeRefusal(m, v.lang)])) };
    const refused = localized(opts.refused);
    const addressRefused = localized(opts.addressRefused);
    const status = refused || addressRefused || opts.limitsRefused ? 400 : 200;
    const channel = TAB_CHANNEL[tab];
    let body: JSX.Element[];
    if (channel) {
      const mb = await showMailbox(ctx, channel);
      const stored: Values = mb
        ? {
            protocol: mb.protocol,
            host: mb.host,
            port: String(mb.port),
            security: mb.security,
            user: mb.username,
            folder: mb.folder ?? '',
            afterImport: mb.afterImport,
            caFile: mb.caFile ?? '',
            tlsLegacy: mb.tlsLegacy,
            importSince: day(mb.importSince),
            enabled: mb.enabled,
          }
        : { protocol: 'imap', security: 'tls', folder: 'INBOX', afterImport: 'seen', enabled: true };
      const addresses = (await listInboundAddresses(ctx.db)).filter((a) => a.channel === channel).map((a) => a.address);
      body = [
        MailboxForm({ view: v, channel, values: refused?.values ?? stored, errors: refused?.errors, stored: !!mb, health: mb?.health }),
        AddressList({ view: v, channel, addresses, value: addressRefused?.values.address as string | undefined, errors: addressRefused?.errors }),
        ReceiverInfo({ view: v, facts: receiverFacts() }),
      ];
    } else if (tab === 'sending') {
      const account = await showSmtpAccount(ctx);
      const stored: Values = account
        ? {
            host: account.host,
            port: String(account.port),
            security: account.security,
            auth: account.auth,
            user: account.username ?? '',
            from: account.fromAddress,
            fromName: account.fromName ?? '',
            caFile: account.caFile ?? '',
            tlsLegacy: account.tlsLegacy,
          }
        : { security: 'starttls', auth: 'none' };
      const limits = await getSendLimits(ctx.db);
      const limitsRefused = opts.limitsRefused;
      body = [
        SmtpAccountForm({ view: v, values: refused?.values ?? stored, errors: refused?.errors, stored: !!account, hasPassword: !!account?.hasPassword }),
        SmtpTestForm({ view: v, stored: !!account }),
        SendLimitsForm({
          view: v,
          values: limitsRefused?.values ?? { maxRecipients: String(limits.maxRecipients), maxPerMinute: String(limits.maxPerMinute) },
          // coded refusals come from the catalogue, in the page's language
          errors: limitsRefused && { [limitsRefused.error.field]: refusalText(limitsRefused.error, v.lang) },
          bounds: SEND_LIMIT_BOUNDS,
          defaults: limits.updatedAt === null,
        }),
      ];
    } else {
      const settings = await listChannelSettings(ctx.db);
      const types = (await listActivityTypes(ctx.db)).map((a) => a.name);
      body = settings.map((s) => {
        const mine = refused?.channel === s.channel ? refused : undefined;
        const values: Values = mine?.values ?? { autoImport: s.autoImport, pollIntervalMinutes: String(s.pollIntervalMinutes), autoComplete: s.autoComplete, activityType: s.activityType };
        return ImportForm({ view: v, channel: s.channel, values, errors: mine?.errors, activityTypes: types });
      });
    }
    return page(c, SettingsPage({ view: v, tab, notice: opts.notice, invalid: status === 400, children: body }), status);
  }

  const tabOf = (value: string | undefined): SettingsTab => ((SETTINGS_TABS as readonly string[]).includes(value ?? '') ? (value as SettingsTab) : 'general');
  const back = (c: Context<AdminEnv>, tab: SettingsTab, notice = 'saved') => c.redirect(`${settingsPath(tab)}&notice=${notice}`, 303);

  app.get('/einstellungen', (c) => c.redirect('/settings', 301));

  app.get('/settings', async (c) => {
    const v = view(c);
    const n = c.req.query('notice');
    const address = c.req.query('address') ?? '';
    const notice = n === 'saved' ? v.t.settingsPages.saved : n === 'added' ? v.t.settingsPages.addresses.added(address) : n === 'removed' ? v.t.settingsPages.addresses.removed(address) : undefined;
    return renderTab(c, tabOf(c.req.query('tab')), { notice });
  });

  app.post('/settings/mailbox/:channel', async (c) => {
    const channel = parseChannelParam(c.req.param('channel'));
    const tab: SettingsTab = channel;
    const form = await c.req.parseBody();
    const protocol = text(form, 'protocol');
    const values: Values = {
      protocol,
      host: text(form, 'host'),
      port: text(form, 'port'),
      security: text(form, 'security'),
      user: text(form, 'user'),
      folder: text(form, 'folder'),
      // the select gives the action; `move` takes its folder from the field beside it
      afterImport: text(form, 'afterImport') === 'move' ? `move:${text(form, 'afterImportFolder')}` : text(form, 'afterImport'),
      caFile: text(form, 'caFile'),
      tlsLegacy: ticked(form, 'tlsLegacy'),
      importSince: text(form, 'importSince'),
      enabled: ticked(form, 'enabled'),
    };
    try {
      await setMailbox(ctx, channel, {
        protocol,
        host: values.host as string,
        port: values.port as string,
        security: values.security as string,
        username: values.user as string,
        // empty keeps the stored password
        password: text(form, 'password') || undefined,
        // POP3 has no folders: the field is ignored
        folder: protocol === 'pop3' ? undefined : (values.folder as string),
        afterImport: values.afterImport as string,
        caFile: values.caFile as string,
        tlsLegacy: values.tlsLegacy as boolean,
        importSince: values.importSince as string,
        enabled: values.enabled as boolean,
      });
    } catch (err) {
      if (err instanceof ValidationError) return renderTab(c, tab, { refused: refusal(err, values, channel) });
      throw err;
    }
    ctx.log.info({ channel, user: c.get('session')?.staffId }, 'mailbox settings saved in the admin');
    return back(c, tab);
  });

  app.post('/settings/mailbox/:channel/test', async (c) => {
    const v = view(c);
    const channel = parseChannelParam(c.req.param('channel'));
    const id = `mailbox-test-${channel}`;
    if (!(await showMailbox(ctx, channel))) return fragment(c, TestSteps({ view: v, id, message: v.t.settingsPages.mailbox.noMailboxToTest }));
    const steps = await ctx.mailboxes.test(channel);
    return fragment(c, TestSteps({ view: v, id, steps }));
  });

  app.post('/settings/addresses/:channel', async (c) => {
    const channel = parseChannelParam(c.req.param('channel'));
    const tab: SettingsTab = channel;
    const address = text(await c.req.parseBody(), 'address');
    try {
      const added = await addInboundAddress(ctx.db, address, channel);
      return c.redirect(`${settingsPath(tab)}&notice=added&address=${encodeURIComponent(added.address)}`, 303);
    } catch (err) {
      if (err instanceof ValidationError) return renderTab(c, tab, { addressRefused: refusal(err, { address }, channel) });
      throw err;
    }
  });

  app.post('/settings/addresses/:channel/remove', async (c) => {
    const channel = parseChannelParam(c.req.param('channel'));
    const tab: SettingsTab = channel;
    const address = text(await c.req.parseBody(), 'address');
    const mine = (await listInboundAddresses(ctx.db)).some((a) => a.channel === channel && a.address === address.trim().toLowerCase());
    try {
      if (!mine) throw new ValidationError('address', `${address} is not an inbound address of this channel`);
      await removeInboundAddress(ctx.db, address);
    } catch (err) {
      if (err instanceof ValidationError) return renderTab(c, tab, { addressRefused: refusal(err, {}, channel) });
      throw err;
    }
    return c.redirect(`${settingsPath(tab)}&notice=removed&address=${encodeURIComponent(address)}`, 303);
  });

  app.post('/settings/smtp', async (c) => {
    const form = await c.req.parseBody();
    const values: Values = {
      host: text(form, 'host'),
      port: text(form, 'port'),
      security: text(form, 'security'),
      auth: text(form, 'auth'),
      user: text(form, 'user'),
      from: text(form, 'from'),
      fromName: text(form, 'fromName'),
      caFile: text(form, 'caFile'),
      tlsLegacy: ticked(form, 'tlsLegacy'),
    };
    try {
      await setSmtpAccount(ctx, {
        host: values.host as string,
        port: values.port as string,
        security: values.security as string,
        auth: values.auth as string,
        username: values.user as string,
        password: text(form, 'password') || undefined,
        fromAddress: values.from as string,
        fromName: values.fromName as string,
        caFile: values.caFile as string,
        tlsLegacy: values.tlsLegacy as boolean,
      });
    } catch (err) {
      if (err instanceof ValidationError) return renderTab(c, 'sending', { refused: refusal(err, values) });
      throw err;
    }
    return back(c, 'sending');
  });

  app.post('/settings/send-limits', async (c) => {
    const form = await c.req.parseBody();
    const values: Values = { maxRecipients: text(form, 'maxRecipients').trim(), maxPerMinute: text(form, 'maxPerMinute').trim() };
    try {
      await setSendLimits(ctx, { maxRecipients: values.maxRecipients, maxPerMinute: values.maxPerMinute }, c.get('session')?.staffId ?? null);
    } catch (err) {
      if (err instanceof ValidationError) return renderTab(c, 'sending', { limitsRefused: { values, error: err } });
      throw err;
    }
    return back(c, 'sending');
  });

  app.post('/settings/smtp/test', async (c) => {
    const v = view(c);
    const to = text(await c.req.parseBody(), 'to');
    try {
      const steps = await testSmtpAccount(ctx, to);
      return fragment(c, TestSteps({ view: v, id: 'smtp-test', steps }));
    } catch (err) {
      if (err instanceof ValidationError || err instanceof NotFoundError) return fragment(c, TestSteps({ view: v, id: 'smtp-test', message: v.t.settingsPages.fieldInvalid(localizeRefusal(err.message, v.lang)) }), 400);
      throw err;
    }
  });

  app.post('/settings/import/:channel', async (c) => {
    const channel = parseChannelParam(c.req.param('channel'));
    const form = await c.req.parseBody();
    const interval = text(form, 'pollIntervalMinutes').trim();
    const values: Values = { autoImport: ticked(form, 'autoImport'), pollIntervalMinutes: interval, autoComplete: ticked(form, 'autoComplete'), activityType: text(form, 'activityType') };
    try {
      if (!/^\d+$/.test(interval)) throw new ValidationError('pollIntervalMinutes', `"${interval}" is not a whole number of minutes between 1 and 1440`);
      await changeChannelSettings(ctx, channel, {
        autoImport: values.autoImport as boolean,
        pollIntervalMinutes: Number(interval),
        autoComplete: values.autoComplete as boolean,
        activityType: (values.activityType as string) || undefined,
      });
    } catch (err) {
      if (err instanceof ValidationError) return renderTab(c, 'import', { refused: refusal(err, values, channel) });
      throw err;
    }
    return back(c, 'import');
  });

  return app;
}
