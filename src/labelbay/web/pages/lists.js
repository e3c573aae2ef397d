// Projects list (#/projects) and tasks list (#/tasks, #/tasks?project_id=N or #/projects/N):
// server-side search, paging, links.

import { h, showAlert, formatDate } from '../app.js';
import { ApiError } from '../api.js';

const PAGE_SIZE = 10;
const SEARCH_DELAY = 300;

function positiveInt(value, fallback) {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

function statusBadge(status) {
  if (!status) return '';
  return h('span', { class: `badge badge-${String(status).replace(/\s+/g, '-')}` }, status);
}

export async function render(root, params, app) {
  const kind = params.kind === 'projects' ? 'projects' : 'tasks';
  const query = params.query || {};
  const state = {
    search: query.search || '',
    page: positiveInt(query.page, 1),
    projectId: kind === 'tasks' ? positiveInt(params.projectId || query.project_id, null) : null,
    seq: 0,
    timer: null,
  };

  let project = null;
  if (state.projectId) {
    try {
      project = await app.api.get(`/api/projects/${state.projectId}`);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404) || params.projectId) throw err;
      state.projectId = null;
    }
  }

  const title = kind === 'projects' ? 'Projects' : project ? `Tasks of ${project.name}` : 'Tasks';
  app.setTitle(title);

  const newTaskHash = project ? `#/tasks/new?project_id=${project.id}` : '#/tasks/new';
  const createTask = h('button', {
    type: 'button',
    class: kind === 'tasks' ? 'button button-primary' : 'button',
    onclick: () => app.navigate(newTaskHash),
  }, 'Create task');
  const createProject = h('button', {
    type: 'button',
    class: kind === 'projects' ? 'button button-primary' : 'button',
    onclick: () => app.navigate('#/projects/new'),
  }, 'Create project');

  const searchId = `search-${kind}`;
  const search = h('input', {
    id: searchId,
    type: 'search',
    class: 'search-input',
    'aria-label': 'Search',
    placeholder: kind === 'projects' ? 'Search projects…' : 'Search tasks…',
    value: state.search,
    autocomplete: 'off',
  });

  const summary = h('p', { class: 'list-summary', role: 'status', 'aria-live': 'polite' });
  const errors = h('div', { class: 'form-errors' });
  const tableWrap = h('div', { class: 'table-wrap' });
  const prev = h('button', { type: 'button', class: 'button' }, '← ', 'Previous page');
  const next = h('button', { type: 'button', class: 'button' }, 'Next page', ' →');
  // The arrows are decoration: keep the accessible names exact.
  prev.setAttribute('aria-label', 'Previous page');
  next.setAttribute('aria-label', 'Next page');
  const pageInfo = h('span', { class: 'page-info' });

  const header = h('div', { class: 'page-header' },
    h('div', { class: 'page-heading' },
      project ? h('p', { class: 'eyebrow' }, `Project #${project.id}`) : null,
      h('h1', {}, title),
      project ? h('p', { class: 'muted filter-note' }, 'Only this project’s tasks are shown. ',
        h('button', { type: 'button', class: 'button button-small', onclick: () => app.navigate('#/tasks') }, 'Clear project filter')) : null),
    h('div', { class: 'page-actions' }, kind === 'projects' ? [createProject, createTask] : [createTask, createProject]));

  const toolbar = h('div', { class: 'toolbar', role: 'search' },
    h('span', { class: 'search-box' }, searchIcon(), search),
    summary);

  const pager = h('nav', { class: 'pager', 'aria-label': 'Pages', hidden: true }, prev, pageInfo, next);
  tableWrap.append(h('p', { class: 'table-loading muted' }, 'Loading…'));

  root.append(h('section', { class: 'page' }, header, toolbar, errors, tableWrap, pager));

  function syncAddress() {
    const q = {};
    if (state.projectId && !params.projectId) q.project_id = state.projectId;
    if (state.search) q.search = state.search;
    if (state.page > 1) q.page = state.page;
    app.replaceQuery(q);
  }

  async function load() {
    const seq = ++state.seq;
    tableWrap.setAttribute('aria-busy', 'true');
    const q = { page: state.page, page_size: PAGE_SIZE, search: state.search };
    if (state.projectId) q.project_id = state.projectId;
    let data;
    try {
      data = await app.api.list(`/api/${kind}`, q);
    } catch (err) {
      if (seq !== state.seq) return;
      tableWrap.removeAttribute('aria-busy');
      if (err instanceof ApiError && err.status === 404 && state.page > 1) {
        // The page is gone (items were deleted): show the first page.
        state.page = 1;
        syncAddress();
        load();
        return;
      }
      if (err instanceof ApiError && err.status === 401) return;
      showAlert(errors, err.message || `The ${kind} could not be loaded.`);
      return;
    }
    if (seq !== state.seq) return;
    tableWrap.removeAttribute('aria-busy');
    showAlert(errors, null);
    draw(data);
  }

  function draw(data) {
    const pages = Math.max(1, Math.ceil(data.count / PAGE_SIZE));
    const noun = kind === 'projects' ? (data.count === 1 ? 'project' : 'projects') : (data.count === 1 ? 'task' : 'tasks');
    summary.textContent = state.search
      ? `${data.count} ${noun} match “${state.search}”`
      : `${data.count} ${noun}`;
    pageInfo.textContent = `Page ${Math.min(state.page, pages)} of ${pages}`;
    prev.disabled = state.page <= 1;
    next.disabled = !data.next;
    pager.hidden = false;

    if (!data.results.length) {
      tableWrap.replaceChildren(emptyState());
      return;
    }
    tableWrap.replaceChildren(kind === 'projects' ? projectsTable(data.results) : tasksTable(data.results));
  }

  function emptyState() {
    if (state.search) {
      return h('div', { class: 'empty' }, h('p', {}, `No ${kind} match “${state.search}”.`));
    }
    if (kind === 'projects') {
      return h('div', { class: 'empty' },
        h('p', { class: 'empty-title' }, 'No projects yet'),
        h('p', { class: 'muted' }, 'A project keeps one set of labels for many tasks.'));
    }
    return h('div', { class: 'empty' },
      h('p', { class: 'empty-title' }, project ? 'This project has no tasks yet' : 'No tasks yet'),
      h('p', { class: 'muted' }, 'Create a task from images, an archive or a video to start annotating.'));
  }

  function tasksTable(tasks) {
    const body = tasks.map((task) => h('tr', {},
      h('td', { class: 'num' }, String(task.id)),
      h('td', {}, h('a', { href: `#/tasks/${task.id}`, class: 'row-link' }, task.name)),
      h('td', {}, task.project_id
        ? h('a', { href: `#/projects/${task.project_id}` }, task.project_name || `Project ${task.project_id}`)
        : h('span', { class: 'muted' }, '—')),
      h('td', { class: 'num' }, String(task.size ?? 0)),
      h('td', { class: 'num' }, String(task.jobs?.count ?? 0)),
      h('td', {}, statusBadge(task.status)),
      h('td', {}, task.owner ? task.owner.username : ''),
      h('td', { class: 'nowrap' }, formatDate(task.updated_date || task.created_date))));
    return h('table', { class: 'data-table' },
      h('caption', { class: 'visually-hidden' }, title),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col', class: 'num' }, 'ID'),
        h('th', { scope: 'col' }, 'Name'),
        h('th', { scope: 'col' }, 'Project'),
        h('th', { scope: 'col', class: 'num' }, 'Frames'),
        h('th', { scope: 'col', class: 'num' }, 'Jobs'),
        h('th', { scope: 'col' }, 'Status'),
        h('th', { scope: 'col' }, 'Owner'),
        h('th', { scope: 'col' }, 'Updated'))),
      h('tbody', {}, body));
  }

  function projectsTable(projects) {
    const body = projects.map((p) => h('tr', {},
      h('td', { class: 'num' }, String(p.id)),
      h('td', {}, h('a', { href: `#/projects/${p.id}`, class: 'row-link' }, p.name)),
      h('td', { class: 'num' }, String(p.tasks?.count ?? 0)),
      h('td', {}, statusBadge(p.status)),
      h('td', {}, p.owner ? p.owner.username : ''),
      h('td', { class: 'nowrap' }, formatDate(p.updated_date || p.created_date))));
    return h('table', { class: 'data-table' },
      h('caption', { class: 'visually-hidden' }, title),
      h('thead', {}, h('tr', {},
        h('th', { scope: 'col', class: 'num' }, 'ID'),
        h('th', { scope: 'col' }, 'Name'),
        h('th', { scope: 'col', class: 'num' }, 'Tasks'),
        h('th', { scope: 'col' }, 'Status'),
        h('th', { scope: 'col' }, 'Owner'),
        h('th', { scope: 'col' }, 'Updated'))),
      h('tbody', {}, body));
  }

  function applySearch() {
    clearTimeout(state.timer);
    state.timer = null;
    const value = search.value.trim();
    if (value === state.search) return;
    state.search = value;
    state.page = 1;
    syncAddress();
    load();
  }

  search.addEventListener('input', () => {
    clearTimeout(state.timer);
    state.timer = setTimeout(applySearch, SEARCH_DELAY);
  });
  search.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      event.preventDefault();
      applySearch();
    }
  });
  search.addEventListener('search', applySearch); // the clear button of type=search

  prev.addEventListener('click', () => {
    if (state.page <= 1) return;
    state.page -= 1;
    syncAddress();
    load();
  });
  next.addEventListener('click', () => {
    state.page += 1;
    syncAddress();
    load();
  });

  await load();

  return {
    leave() {
      clearTimeout(state.timer);
      state.seq += 1; // ignore answers that arrive after leaving
      return true;
    },
  };
}

function searchIcon() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 16 16');
  svg.setAttribute('class', 'search-icon');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const circle = document.createElementNS(ns, 'circle');
  circle.setAttribute('cx', '7');
  circle.setAttribute('cy', '7');
  circle.setAttribute('r', '4.5');
  const line = document.createElementNS(ns, 'line');
  line.setAttribute('x1', '10.5');
  line.setAttribute('y1', '10.5');
  line.setAttribute('x2', '14');
  line.setAttribute('y2', '14');
  svg.append(circle, line);
  return svg;
}
