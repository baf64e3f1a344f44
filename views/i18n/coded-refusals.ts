import type { RefusalCode, RefusalParams } from '../../src/services/errors.js';
import type { Language } from './index.js';
import { localizeRefusal } from './refusals.js';

/*
 * Texts of the coded refusals (src/services/errors.ts RefusalCode): the services give a code and
 * its figures, the admin builds the sentence here in its language. A missing code fails `tsc`.
 */

type Catalogue = { [K in RefusalCode]: (p: RefusalParams) => string } & { rateTitle: string };

const num = (p: RefusalParams, k: string) => Number(p[k] ?? 0);

const de: Catalogue = {
  rateTitle: 'Zu viele Nachrichten',
  'send-too-many-recipients': (p) =>
    `Diese Nachricht hat ${num(p, 'recipients')} Empfänger*innen (An, Cc und Bcc zusammen); erlaubt sind höchstens ${num(p, 'maxRecipients')} je Nachricht (Höchstzahl Empfänger*innen).`,
  'send-rate-exceeded': (p) => {
    const s = num(p, 'retryAfterSeconds');
    return `Je Person dürfen höchstens ${num(p, 'maxPerMinute')} Nachrichten pro Minute versandt werden. Bitte versuchen Sie es in ${s} ${s === 1 ? 'Sekunde' : 'Sekunden'} erneut.`;
  },
  'send-limit-invalid': (p) => `„${String(p.value ?? '')}“ ist keine ganze Zahl von ${num(p, 'min')} bis ${num(p, 'max')}.`,
};

const en: Catalogue = {
  rateTitle: 'Too many messages',
  'send-too-many-recipients': (p) =>
    `This message has ${num(p, 'recipients')} recipients (To, Cc and Bcc together); at most ${num(p, 'maxRecipients')} per message are allowed (maximum recipients).`,
  'send-rate-exceeded': (p) => {
    const s = num(p, 'retryAfterSeconds');
    return `Each person may send at most ${num(p, 'maxPerMinute')} messages per minute. Please try again in ${s} ${s === 1 ? 'second' : 'seconds'}.`;
  },
  'send-limit-invalid': (p) => `"${String(p.value ?? '')}" is not a whole number from ${num(p, 'min')} to ${num(p, 'max')}.`,
};

const catalogues: Record<Language, Catalogue> = { de, en };

/** The catalogue of coded refusals in `lang` (German for anything unknown). */
export function codedRefusals(lang: string): Catalogue {
  return catalogues[lang === 'en' ? 'en' : 'de'];
}

/**
 * The text of a refusal in `lang`: built from the catalogue when the error carries a code, else
 * the service's English message through localizeRefusal().
 */
export function refusalText(err: { message: string; code?: RefusalCode; params?: RefusalParams }, lang: Language): string {
  return err.code ? codedRefusals(lang)[err.code](err.params ?? {}) : localizeRefusal(err.message, lang);
}
