import type { View } from '../view.js';

/**
 * The hidden CSRF field for a plain HTML form (`method="post"` without htmx). htmx requests need
 * nothing: the layout's `<body hx-headers:inherited>` sends the token as `X-CSRF-Token`.
 */
export function CsrfField({ view }: { view: View }) {
  return view.csrfToken ? <input type="hidden" name="_csrf" value={view.csrfToken} /> : null;
}
