// The one check for redirect targets taken from a request (`back` of the language switch, `next`
// of the login, the path a login redirect returns to): only paths on our own origin pass.

/** A fixed origin to resolve against; any reference that leaves it names another site. */
const PROBE_ORIGIN = 'http://redirect-target.invalid';

/**
 * C0 controls, DEL and C1 controls, and the backslash. Browsers remove tab, CR and LF from a URL
 * before they parse it (WHATWG URL Standard, "basic URL parser": `/\t/host` becomes `//host`) and
 * read `\` as `/` in http(s) URLs (`/\host`): neither belongs in a path we send a browser to.
 */
const UNSAFE_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\\]/;

/**
 * A redirect target on our own origin, from a value taken from the request.
 *
 * The value is parsed with the WHATWG URL parser (URL Standard, as browsers do) against a fixed
 * dummy origin and passes only when the result keeps that origin (scheme, host and port): `//evil`,
 * `https://evil`, `javascript:…` and the like leave it. Control characters and backslashes are
 * refused before parsing (see {@link UNSAFE_CHARACTERS}). What passes is returned as the parsed
 * path, query and fragment (percent-encoded as the parser writes them), so the browser follows
 * exactly what was checked; a result that would itself start with `//` (e.g. from `/.//evil`) is
 * refused too, as a browser would read it as another host (RFC 3986 §4.2, network-path reference).
 * @param value the request's value (query parameter, form field, path); anything but a string gives `/`
 * @returns an absolute path on our origin (`/…`), or `/` when the value is missing or not such a path
 */
export function localPath(value: unknown): string {
  if (typeof value !== 'string' || value === '' || UNSAFE_CHARACTERS.test(value)) return '/';
  let url: URL;
  try {
    url = new URL(value, PROBE_ORIGIN);
  } catch {
    return '/';
  }
  if (url.origin !== PROBE_ORIGIN) return '/';
  const target = `${url.pathname}${url.search}${url.hash}`;
  return target.startsWith('/') && !target.startsWith('//') ? target : '/';
}
