import type { Language, Messages } from './i18n/index.js';

/** The signed-in person as pages see them. */
export interface ViewUser {
  id: number;
  name: string;
  role: 'admin' | 'staff';
}

/**
 * What every page and fragment gets from the admin routes (src/web/admin/render.ts `view(c)`):
 * the language and its messages, the current path, the signed-in person and the CSRF token of
 * their session (absent before login).
 */
export interface View {
  lang: Language;
  t: Messages;
  path: string;
  user?: ViewUser;
  csrfToken?: string;
}
