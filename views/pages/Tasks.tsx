import type { Child } from 'hono/jsx';
import { TasksQueue } from '../fragments/TasksQueue.js';
import { TasksTable } from '../fragments/TasksTable.js';
import { Layout } from '../layouts/Layout.js';
import type { View } from '../view.js';

/** The tabs above the admin's lists: open tasks and the unassigned queue. */
function Tabs({ view }: { view: View }) {
  const t = view.t.tasksPages.tabs;
  return (
    <nav class="tabs" aria-label={view.t.tasksPages.title}>
      <a href="/tasks" aria-current={view.path === '/tasks' ? 'page' : undefined}>
        {t.all}
      </a>
      <a href="/tasks/unassigned" aria-current={view.path === '/tasks/unassigned' ? 'page' : undefined}>
        {t.unassigned}
      </a>
    </nav>
  );
}

function Frame({ view, title, tabs, children }: { view: View; title: string; tabs: boolean; children?: Child }) {
  return (
    <Layout view={view} title={title}>
      <link rel="stylesheet" href="/static/tasks.css" />
      {tabs && <Tabs view={view} />}
      {children}
    </Layout>
  );
}

/** "Vorgänge" (admins, `/tasks`) and "Meine Vorgänge" (everybody, own tasks): the open-task list page. */
export function TasksPage(props: Parameters<typeof TasksTable>[0] & { title: string; tabs: boolean; notice?: string }) {
  return (
    <Frame view={props.view} title={props.title} tabs={props.tabs}>
      {props.notice && (
        <p class="message notice" role="status">
          {props.notice}
        </p>
      )}
      <TasksTable {...props} />
    </Frame>
  );
}

/** The unassigned queue (`/tasks/unassigned`, admins). */
export function TasksUnassignedPage(props: Parameters<typeof TasksQueue>[0]) {
  const t = props.view.t.tasksPages;
  return (
    <Frame view={props.view} title={t.unassignedTitle} tabs>
      <p>{t.queue.intro}</p>
      <TasksQueue {...props} />
    </Frame>
  );
}
