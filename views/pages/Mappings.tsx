import { MappingRow, type MappingChoices, type MappingRowData } from '../fragments/MappingRow.js';
import { Layout } from '../layouts/Layout.js';
import type { View } from '../view.js';

/**
 * "E-Mail-Adressen verwalten" (/mappings): the grid of rows Von → An. *Neu* appends an editing row
 * (htmx, no reload); rows are edited and deleted in place. Every row is {@link MappingRow}, the
 * same component the htmx answers carry.
 */
export function MappingsPage({ view, rows, choices }: { view: View; rows: MappingRowData[]; choices: MappingChoices }) {
  const t = view.t.mappingPages;
  return (
    <Layout view={view} title={t.title}>
      <p class="muted">{t.intro}</p>
      {!choices.eligible.length && (
        <p class="message error" role="alert">
          {t.noEligible}
        </p>
      )}
      <table class="mapping-grid" data-testid="mapping-grid">
        <thead>
          <tr>
            <th scope="col">{t.from}</th>
            <th scope="col">{t.to}</th>
            <th scope="col">{t.actions}</th>
            <th scope="col">
              {t.status}
            </th>
          </tr>
        </thead>
        <tbody id="mapping-rows">
          {/* shown while the grid has no other row (CSS), also after a row is added or deleted in place */}
          <tr class="empty-row">
            <td colspan={4}>{t.empty}</td>
          </tr>
          {rows.map((row) => (
            <MappingRow view={view} row={row} />
          ))}
        </tbody>
      </table>
      <p>
        <button type="button" hx-get="/mappings/new" hx-target="#mapping-rows" hx-swap="beforeend" data-testid="mapping-new">
          {t.add}
        </button>
      </p>
    </Layout>
  );
}
