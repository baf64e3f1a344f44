import { Layout } from '../layouts/Layout.js';
import type { View } from '../view.js';

/** A page with a title and one line of text: "kommt bald" placeholders, 403 and 404. */
export function MessagePage({ view, title, text }: { view: View; title: string; text: string }) {
  return (
    <Layout view={view} title={title}>
      <p class="message notice">{text}</p>
    </Layout>
  );
}
