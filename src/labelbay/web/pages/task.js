// Task page (#/tasks/<id>): details, labels, jobs table with "Open job" links, delete.

import { h, showAlert, formatDate } from '../app.js';
import { ApiError } from '../api.js';

function badge(value) {
  if (!value) return h('span', { class: 'muted' }, '—');
  return h('span', { class: `badge badge-${String(value).replace(/\s+/g, '-')}` }, value);
}

function detail(term, value) {
  return h('div', { class: 'detail' }, h('dt', {}, term), h('dd', {}, value));
}

export async function render(root, params, app) {
  const id = params.id;
  const [task, jobsPage, labels] = await Promise.all([
    app.api.get(`/api/tasks/${id}`),
    app.api.list('/api/jobs', { task_id: id, page_size: 1000 }),
    app.api.all('/api/labels', { task_id: id }).catch((err) => {
      if (err instanceof ApiError && err.status === 401) throw err;
      return null;
    }),
  ]);
  let jobs = jobsPage.results.slice().sort((a, b) => a.id - b.id);
  if (jobsPage.next) {
    // More than one page of jobs: fetch the rest.
    jobs = (await app.api.all('/api/jobs', { task_id: id })).sort((a, b) => a.id - b.id);
  }

  app.setTitle(task.name);

  const errors = h('div', { class: 'form-errors' });
  const deleteButton = h('button', { type: 'button', class: 'button button-danger' }, 'Delete task');

  const details = h('dl', { class: 'details' },
    detail('ID', String(task.id)),
    detail('Project', task.project_id
      ? h('a', { href: `#/projects/${task.project_id}` }, task.project_name || `Project ${task.project_id}`)
      : h('span', { class: 'muted' }, 'None')),
    detail('Size', `${task.size ?? 0} ${task.size === 1 ? 'frame' : 'frames'}`),
    detail('Status', badge(task.status)),
    detail('Segment size', task.segment_size ? String(task.segment_size) : h('span', { class: 'muted' }, 'All frames')),
    detail('Image quality', String(task.image_quality ?? '')),
    detail('Owner', task.owner ? task.owner.username : h('span', { class: 'muted' }, '—')),
    detail('Created', formatDate(task.created_date)),
    detail('Updated', formatDate(task.updated_date)));

  const labelsSection = h('section', { class: 'card section', 'aria-labelledby': 'task-labels-title' },
    h('h2', { id: 'task-labels-title' }, 'Labels'),
    labels && labels.length
      ? h('ul', { class: 'label-chips' }, labels.map((label) => h('li', { class: 'label-chip' },
        h('span', { class: 'swatch', style: { background: label.color || '#888' }, 'aria-hidden': 'true' }),
        label.name,
        label.attributes && label.attributes.length
          ? h('span', { class: 'muted' }, ` · ${label.attributes.map((a) => a.name).join(', ')}`)
          : null)))
      : h('p', { class: 'muted' }, labels ? 'This task has no labels.' : 'The labels could not be loaded.'));

  const jobsSection = h('section', { class: 'card section', 'aria-labelledby': 'task-jobs-title' },
    h('h2', { id: 'task-jobs-title' }, 'Jobs'),
    jobs.length ? jobsTable(jobs) : h('div', { class: 'empty' },
      h('p', { class: 'empty-title' }, 'No jobs yet'),
      h('p', { class: 'muted' }, task.size ? 'The task’s jobs are being prepared.' : 'This task has no data, so it has no jobs.')));

  root.append(h('section', { class: 'page' },
    h('div', { class: 'page-header' },
      h('div', { class: 'page-heading' },
        h('p', { class: 'eyebrow' }, `Task #${task.id}`),
        h('h1', {}, task.name)),
      h('div', { class: 'page-actions' }, deleteButton)),
    errors,
    h('div', { class: 'card section' }, details),
    jobsSection,
    labelsSection));

  deleteButton.addEventListener('click', async () => {
    const ok = window.confirm(`Delete task “${task.name}”? Its data and annotations are removed for good.`);
    if (!ok) return;
    deleteButton.disabled = true;
    deleteButton.textContent = 'Deleting…';
    try {
      await app.api.del(`/api/tasks/${task.id}`);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) {
        deleteButton.disabled = false;
        deleteButton.textContent = 'Delete task';
        if (err instanceof ApiError && err.status === 401) return;
        showAlert(errors, `The task could not be deleted: ${err.message}`);
        return;
      }
    }
    app.announce(`Task ${task.name} deleted.`);
    app.navigate('#/tasks');
  });

  return null;
}

function jobsTable(jobs) {
  return h('div', { class: 'table-wrap' }, h('table', { class: 'data-table' },
    h('caption', { class: 'visually-hidden' }, 'Jobs of this task'),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col', class: 'num' }, 'ID'),
      h('th', { scope: 'col' }, 'Frames'),
      h('th', { scope: 'col' }, 'Assignee'),
      h('th', { scope: 'col' }, 'Stage'),
      h('th', { scope: 'col' }, 'State'),
      h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
    h('tbody', {}, jobs.map((job) => h('tr', { dataset: { jobId: String(job.id) } },
      h('td', { class: 'num' }, String(job.id)),
      h('td', { class: 'nowrap' }, `${job.start_frame}–${job.stop_frame}`),
      h('td', {}, job.assignee ? job.assignee.username : h('span', { class: 'muted' }, 'Unassigned')),
      h('td', {}, badge(job.stage)),
      h('td', {}, badge(job.state)),
      h('td', { class: 'actions' }, h('a', { href: `#/jobs/${job.id}`, class: 'button button-small' }, 'Open job')))))));
}
