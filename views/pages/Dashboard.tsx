import { DashboardPanel, type DashboardModel } from '../fragments/DashboardPanel.js';
import { Layout } from '../layouts/Layout.js';
import type { View } from '../view.js';

/** The dashboard page: the layout around the self-refreshing panel (the same component htmx swaps). */
export function DashboardPage({ view, model }: { view: View; model: DashboardModel }) {
  return (
    <Layout view={view} title={view.t.dashboard.title}>
      <DashboardPanel view={view} model={model} />
    </Layout>
  );
}
