import type { ParseIssue } from '../../src/ingest/parse.js';
import { parseIssueLabels, parseIssueText } from '../i18n/parse-issues.js';
import type { View } from '../view.js';

/**
 * What the parse adapted or lost in a message's parsed copy (message.parse_issues), in the
 * page's language: a warning when something could not be taken over (`incomplete`), then the
 * notes as a list. Nothing when there are none.
 */
export function ParseIssues({ view, issues, incomplete }: { view: View; issues: ParseIssue[]; incomplete: boolean }) {
  if (issues.length === 0) return null;
  const l = parseIssueLabels(view.lang);
  return (
    <div class={incomplete ? 'message error' : 'message notice'} data-testid="parse-issues" data-incomplete={String(incomplete)}>
      {incomplete && <p>{l.incomplete}</p>}
      <p>{l.heading}:</p>
      <ul>
        {issues.map((i) => (
          <li data-code={i.code}>{parseIssueText(view.lang, i)}</li>
        ))}
      </ul>
    </div>
  );
}
