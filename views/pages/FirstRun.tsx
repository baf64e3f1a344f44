import { Layout } from '../layouts/Layout.js';
import type { View } from '../view.js';

export interface FirstRunValues {
  name?: string;
  email?: string;
  login?: string;
}

/** Creating the first admin with the one-time code from the log. */
export function FirstRunPage({ view, error, values = {} }: { view: View; error?: string; values?: FirstRunValues }) {
  const t = view.t.firstRun;
  return (
    <Layout view={view} title={t.title}>
      <p>{t.intro}</p>
      {error && (
        <p class="message error" role="alert">
          {error}
        </p>
      )}
      <form method="post" action="/first-run" class="stack narrow">
        <label for="code">{t.code}</label>
        <input id="code" name="code" required autocomplete="off" />
        <label for="name">{t.name}</label>
        <input id="name" name="name" required value={values.name ?? ''} />
        <label for="email">{t.email}</label>
        <input id="email" name="email" type="email" required value={values.email ?? ''} />
        <label for="login">{t.login}</label>
        <input id="login" name="login" required autocomplete="username" value={values.login ?? ''} />
        <label for="password">{t.password}</label>
        <input id="password" name="password" type="password" required minlength={10} autocomplete="new-password" />
        <label for="password2">{t.passwordRepeat}</label>
        <input id="password2" name="password2" type="password" required minlength={10} autocomplete="new-password" />
        <button type="submit">{t.submit}</button>
      </form>
    </Layout>
  );
}
