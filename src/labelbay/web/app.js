// Boot: session check, hash router -> page modules, unsaved-changes guard.
//
// Routes: #/login, #/projects, #/projects/new, #/projects/<id> (its tasks), #/tasks, #/tasks/new,
// #/tasks/<id>, #/jobs/<id>.
// A route may carry a query after "?" (e.g. #/tasks?project_id=3&page=2).
// Each page module exports `async function render(root, params, app)` and may return
// `{ leave(): boolean | Promise<boolean> }`; leave() is asked before navigating away.

import { api, ApiError, onUnauthorized, csrfToken } from './api.js';

// ---- small DOM helpers shared by the pages -------------------------------------------------

const PROPS = new Set(['value', 'checked', 'disabled', 'hidden', 'required', 'multiple', 'selected', 'readOnly', 'indeterminate', 'tabIndex', 'htmlFor', 'className']);

/** h('button', {class: 'button', onclick: fn, 'aria-label': 'Close'}, 'text', childNode, [more]) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key === 'style' && typeof value === 'object') Object.assign(el.style, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (PROPS.has(key)) el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

let uid = 0;
/** A unique id for label/aria wiring. */
export function nextId(prefix = 'lb') {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** Shows (or clears, with a falsy message) an error in a role=alert box inside `slot`. */
export function showAlert(slot, message, { kind = 'error', actions = [] } = {}) {
  slot.replaceChildren();
  if (!message) return null;
  const box = h('div', { class: `alert alert-${kind}`, role: 'alert' },
    h('p', { class: 'alert-text' }, message),
    actions.length ? h('div', { class: 'alert-actions' }, actions) : null);
  slot.append(box);
  return box;
}

export function formatDate(value) {
  if (!value) return '';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return '';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

const ROUTES = [
  { pattern: /^\/login$/, load: () => import('./pages/login.js'), name: 'login', public: true },
  { pattern: /^\/projects$/, load: () => import('./pages/lists.js'), name: 'projects', params: () => ({ kind: 'projects' }) },
  { pattern: /^\/projects\/new$/, load: () => import('./pages/create.js'), name: 'create-project', params: () => ({ kind: 'project' }) },
  { pattern: /^\/projects\/(\d+)$/, load: () => import('./pages/lists.js'), name: 'project', params: (m) => ({ kind: 'tasks', projectId: Number(m[1]) }) },
  { pattern: /^\/tasks$/, load: () => import('./pages/lists.js'), name: 'tasks', params: () => ({ kind: 'tasks' }) },
  { pattern: /^\/tasks\/new$/, load: () => import('./pages/create.js'), name: 'create-task', params: () => ({ kind: 'task' }) },
  { pattern: /^\/tasks\/(\d+)$/, load: () => import('./pages/task.js'), name: 'task', params: (m) => ({ id: Number(m[1]) }) },
  { pattern: /^\/jobs\/(\d+)$/, load: () => import('./workspace/index.js'), name: 'job', params: (m) => ({ id: Number(m[1]) }), workspace: true },
];

const DEFAULT_ROUTE = '#/tasks';

const els = {};

/** The API and navigation helpers every page receives as `app`. */
const app = {
  api,
  user: null,
  returnTo: null,

  /** Go to a hash route (e.g. '#/tasks/3'). `replace` keeps the history entry. */
  navigate(hash, { replace = false } = {}) {
    if (!hash.startsWith('#')) hash = `#${hash}`;
    if (replace) {
      history.replaceState(history.state, '', hash);
      route(true);
    } else if (location.hash === hash) {
      route(true);
    } else {
      location.hash = hash;
    }
  },

  /** Rewrites the current route's query without rendering the page again. */
  replaceQuery(query) {
    const { path } = parseHash(location.hash);
    const qs = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== '') qs.set(key, String(value));
    }
    const text = qs.toString();
    const hash = `#${path}${text ? `?${text}` : ''}`;
    current.hash = hash;
    history.replaceState(history.state, '', hash);
  },

  setTitle(text) {
    document.title = text ? `${text} · Labelbay` : 'Labelbay';
  },

  /** A polite screen-reader announcement. */
  announce(text) {
    if (!els.announcer) return;
    els.announcer.textContent = '';
    setTimeout(() => { els.announcer.textContent = text; }, 30);
  },

  setUser(user) {
    app.user = user;
    renderHeader();
  },
};

window.labelbay = app; // handy from the console; pages get it as an argument

const current = { hash: null, view: null, token: 0, route: null };

export function parseHash(hash) {
  let raw = (hash || '').replace(/^#/, '');
  if (!raw.startsWith('/')) raw = `/${raw}`;
  const q = raw.indexOf('?');
  const path = (q < 0 ? raw : raw.slice(0, q)).replace(/\/+$/, '') || '/';
  const query = Object.fromEntries(new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)));
  return { path, query };
}

function matchRoute(path) {
  for (const r of ROUTES) {
    const m = r.pattern.exec(path);
    if (m) return { route: r, params: r.params ? r.params(m) : {} };
  }
  return null;
}

function renderHeader() {
  const signedIn = Boolean(app.user);
  els.nav.hidden = !signedIn;
  els.userBox.hidden = !signedIn;
  els.userName.textContent = signedIn ? app.user.username : '';
  if (signedIn) {
    const full = [app.user.first_name, app.user.last_name].filter(Boolean).join(' ');
    els.userName.title = full ? `Signed in as ${full} (${app.user.username})` : `Signed in as ${app.user.username}`;
  }
}

function markSection(path) {
  const section = path.startsWith('/projects') ? 'projects' : (path.startsWith('/tasks') || path.startsWith('/jobs')) ? 'tasks' : '';
  for (const link of els.nav.querySelectorAll('a[data-section]')) {
    if (link.dataset.section === section) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
}

async function askToLeave() {
  const view = current.view;
  if (!view || typeof view.leave !== 'function') return true;
  try {
    return (await view.leave()) !== false;
  } catch (err) {
    console.error('leave() failed', err);
    return true;
  }
}

function hasUnsavedChanges() {
  const view = current.view;
  if (!view) return false;
  try {
    if (typeof view.isDirty === 'function') return Boolean(view.isDirty());
    if (typeof view.dirty === 'function') return Boolean(view.dirty());
    if (typeof view.dirty === 'boolean') return view.dirty;
  } catch {
    return false;
  }
  return false;
}

function showError(root, title, err) {
  const box = document.createElement('section');
  box.className = 'page page-narrow';
  const h1 = document.createElement('h1');
  h1.textContent = title;
  h1.tabIndex = -1;
  const alert = document.createElement('div');
  alert.className = 'alert alert-error';
  alert.setAttribute('role', 'alert');
  alert.textContent = err ? (err.message || String(err)) : '';
  const back = document.createElement('p');
  const link = document.createElement('a');
  link.href = DEFAULT_ROUTE;
  link.textContent = 'Go to the task list';
  back.append(link);
  box.append(h1, alert, back);
  root.replaceChildren(box);
}

let routing = Promise.resolve();

function route(force = false) {
  const run = () => routeNow(force);
  routing = routing.then(run, run);
  return routing;
}

async function routeNow(force = false) {
  const hash = location.hash || '';
  if (!force && hash === current.hash && current.rendered) return;
  const { path, query } = parseHash(hash);

  if (path === '/' || hash === '' || hash === '#') {
    history.replaceState(history.state, '', DEFAULT_ROUTE);
    return routeNow(force);
  }

  const found = matchRoute(path);

  // Signed-out users go to the sign in page (and come back afterwards).
  if (!app.user && !(found && found.route.public)) {
    app.returnTo = hash;
    history.replaceState(history.state, '', '#/login');
    return routeNow(force);
  }

  if (current.hash !== null && current.rendered) {
    const ok = await askToLeave();
    if (!ok) {
      // Stay: put the address back without rendering again.
      history.replaceState(history.state, '', current.hash);
      return;
    }
  }

  const token = ++current.token;
  current.hash = hash;
  current.view = null;
  current.rendered = false;
  current.route = found ? found.route.name : null;
  markSection(path);
  document.body.dataset.route = current.route || 'not-found';

  // A fresh container per navigation: a slow page that finishes late writes into a detached node.
  const root = document.createElement('div');
  root.className = 'view-root';
  els.view.replaceChildren(root);
  els.view.setAttribute('aria-busy', 'true');

  if (!found) {
    app.setTitle('Not found');
    showError(root, 'Page not found', new Error(`There is no page at ${hash}.`));
    finish(token, root, null);
    return;
  }

  const { route: r, params } = found;
  let mod;
  try {
    mod = await r.load();
    if (typeof mod.render !== 'function') throw new Error(`The ${r.name} page module does not export render()`);
  } catch (err) {
    if (token !== current.token) return;
    console.error(err);
    app.setTitle('Error');
    showError(root, r.workspace ? 'The job workspace could not be loaded' : 'This page could not be loaded', err);
    finish(token, root, null);
    return;
  }
  if (token !== current.token) return;
  let view = null;
  try {
    view = await mod.render(root, { ...params, query }, app);
  } catch (err) {
    if (token !== current.token) return;
    if (err instanceof ApiError && err.status === 401) return; // handled: sent to sign in
    if (!(err instanceof ApiError)) console.error(err); // API errors are shown, not bugs
    const title = err instanceof ApiError && err.status === 404 ? 'Not found' : 'Something went wrong';
    app.setTitle(title);
    showError(root, title, err);
  }
  if (token !== current.token) {
    if (view && typeof view.leave === 'function') {
      try { await view.leave(true); } catch { /* ignore */ }
    }
    return;
  }
  finish(token, root, view || null);
}

function finish(token, root, view) {
  if (token !== current.token) return;
  current.view = view;
  current.rendered = true;
  els.view.removeAttribute('aria-busy');
  // Move focus to the new page unless the page placed it itself.
  const active = document.activeElement;
  if (!active || active === document.body || !root.contains(active)) {
    const target = root.querySelector('[autofocus]') || root.querySelector('h1');
    if (target) {
      if (!target.hasAttribute('tabindex') && target.tagName === 'H1') target.tabIndex = -1;
      target.focus({ preventScroll: true });
    }
  }
}

async function signOut() {
  if (current.rendered && !(await askToLeave())) return;
  current.view = null;
  els.signOut.disabled = true;
  try {
    await api.logout();
  } catch (err) {
    console.warn('sign out failed', err);
  } finally {
    els.signOut.disabled = false;
  }
  app.setUser(null);
  app.returnTo = null;
  current.hash = null;
  current.rendered = false;
  app.navigate('#/login', { replace: location.hash === '#/login' });
}

async function boot() {
  els.view = document.getElementById('view');
  els.nav = document.getElementById('app-nav');
  els.userBox = document.getElementById('app-user');
  els.userName = document.getElementById('user-name');
  els.signOut = document.getElementById('sign-out');
  els.announcer = document.getElementById('announcer');

  els.signOut.addEventListener('click', signOut);
  document.getElementById('skip-link').addEventListener('click', (event) => {
    event.preventDefault();
    els.view.focus();
  });

  onUnauthorized(() => {
    if (!app.user) return;
    app.setUser(null);
    app.returnTo = location.hash && !location.hash.startsWith('#/login') ? location.hash : null;
    // The session is gone: nothing can be saved; let the page clean up without asking.
    const view = current.view;
    if (view && typeof view.leave === 'function') {
      Promise.resolve().then(() => view.leave(true)).catch(() => {});
    }
    current.view = null;
    current.rendered = false;
    current.hash = null;
    history.replaceState(history.state, '', '#/login');
    route();
  });

  window.addEventListener('hashchange', () => route());
  window.addEventListener('beforeunload', (event) => {
    if (hasUnsavedChanges()) {
      event.preventDefault();
      event.returnValue = '';
    }
  });

  try {
    // Sign in sets the csrftoken cookie beside the (HttpOnly) session cookie and sign out clears
    // both: without it there is no session to ask about (and no 401 to log in the console).
    app.setUser(csrfToken() ? await api.me() : null);
  } catch (err) {
    console.error(err);
    showError(els.view, 'The server cannot be reached', err);
    return;
  }
  await route();
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', boot, { once: true });
} else {
  boot();
}

export default app;
