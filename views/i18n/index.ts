import { de, type Messages } from './de.js';
import { en } from './en.js';

/** Languages of the admin; German first. */
export const LANGUAGES = ['de', 'en'] as const;
export type Language = (typeof LANGUAGES)[number];

const catalogues: Record<Language, Messages> = { de, en };

/** The message catalogue of a language (German for anything unknown). */
export function messages(lang: string): Messages {
  return catalogues[(LANGUAGES as readonly string[]).includes(lang) ? (lang as Language) : 'de'];
}

export type { Messages };
