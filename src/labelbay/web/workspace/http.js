// Minimal same-origin JSON fetch helper for the workspace (independent of the shell's api.js).

export class HttpError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export function csrfToken() {
  for (const part of document.cookie.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === 'csrftoken') return decodeURIComponent(v.join('='));
  }
  return '';
}

function url(path, query) {
  const u = new URL(path, location.origin);
  if (query) for (const [k, v] of Object.entries(query)) if (v != null) u.searchParams.set(k, v);
  return u.pathname + u.search;
}

export async function request(method, path, { query, body, signal } = {}) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', signal };
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRFToken'] = csrfToken();
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(url(path, query), init);
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (!res.ok) {
    let msg = `${method} ${path}: HTTP ${res.status}`;
    if (data && typeof data === 'object') {
      const d = data.detail || data.message || data.errors || data;
      msg += ': ' + (typeof d === 'string' ? d : JSON.stringify(d));
    } else if (typeof data === 'string' && data) msg += ': ' + data.slice(0, 200);
    throw new HttpError(res.status, msg, data);
  }
  return data;
}

export const http = {
  get: (p, query, opts = {}) => request('GET', p, { ...opts, query }),
  put: (p, body) => request('PUT', p, { body }),
  patch: (p, body) => request('PATCH', p, { body }),
  post: (p, body) => request('POST', p, { body }),
  raw(path, query, signal) {
    return fetch(url(path, query), { credentials: 'same-origin', signal });
  },
};
