import { Layout } from '../layouts/Layout.js';
import type { View } from '../view.js';

/** The login form; `error` and `notice` are shown above it (role="alert" / role="status"). */
export function LoginPage({ view, error, notice, login, next, firstRun }: { view: View; error?: string; notice?: string; login?: string; next?: string; firstRun?: boolean }) {
  const t = view.t.login;
  return (
    <Layout view={view} title={t.title}>
      {error && (
        <p class="message error" role="alert">
          {error}
        </p>
      )}
      {notice && (
        <p class="message notice" role="status">
          {notice}
        </p>
      )}
      <form method="post" action="/login" class="stack narrow">
        {next && <input type="hidden" name="next" value={next} />}
        <label for="login">{t.login}</label>
        <input id="login" name="login" autocomplete="username" required value={login ?? ''} autofocus />
        <label for="password">{t.password}</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required />
        <button type="submit">{t.submit}</button>
      </form>
      {firstRun && (
        <p class="message notice">
          {t.noAdminYet} <a href="/first-run">{t.firstRunLink}</a>
        </p>
      )}
    </Layout>
  );
}
