// Fetch wrapper for Labelbay's CVAT-compatible API.
//
// Same-origin session cookie; every write (POST/PUT/PATCH/DELETE) carries X-CSRFToken with the
// value of the `csrftoken` cookie. Non-2xx answers become ApiError(status, message, body).

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export class ApiError extends Error {
  constructor(status, message, body = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
  }
}

/** The value of a cookie readable from script (the session cookie itself is HttpOnly). */
export function readCookie(name) {
  for (const part of document.cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      return decodeURIComponent(part.slice(eq + 1).trim());
    }
  }
  return '';
}

export function csrfToken() {
  return readCookie('csrftoken');
}

/** Headers every write needs. */
export function writeHeaders() {
  const token = csrfToken();
  return token ? { 'X-CSRFToken': token } : {};
}

/** `/api/...` paths stay as they are; `tasks/1` or `/tasks/1` get the `/api` prefix. */
export function apiUrl(path, query) {
  let url;
  if (/^https?:\/\//.test(path) || path.startsWith('/api/') || path === '/api') {
    url = path;
  } else {
    url = `/api/${path.replace(/^\/+/, '')}`;
  }
  const qs = queryString(query);
  if (qs) url += (url.includes('?') ? '&' : '?') + qs;
  return url;
}

export function queryString(query) {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue;
    if (Array.isArray(value)) {
      for (const v of value) params.append(key, String(v));
    } else {
      params.append(key, String(value));
    }
  }
  return params.toString();
}

/** A readable message from the error shapes the server (and CVAT) answer with. */
export function errorMessage(body, fallback) {
  if (body === null || body === undefined || body === '') return fallback;
  if (typeof body === 'string') return body;
  if (Array.isArray(body)) {
    return body.map((item) => errorMessage(item, '')).filter(Boolean).join(' ') || fallback;
  }
  if (typeof body === 'object') {
    const parts = [];
    if (typeof body.detail === 'string' && body.detail) parts.push(body.detail);
    if (body.fields && typeof body.fields === 'object') {
      const details = Object.entries(body.fields)
        .map(([field, msgs]) => `${field}: ${[].concat(msgs).join(' ')}`);
      if (details.length) parts.push(details.join('; '));
    }
    if (!parts.length) {
      if (Array.isArray(body.non_field_errors)) return body.non_field_errors.join(' ');
      // A Django REST style field -> messages map.
      const fieldErrors = Object.entries(body)
        .filter(([key]) => key !== 'code')
        .map(([field, msgs]) => `${field}: ${[].concat(msgs).map(String).join(' ')}`);
      if (fieldErrors.length) return fieldErrors.join('; ');
    }
    return parts.join(' — ') || fallback;
  }
  return fallback;
}

const listeners = { unauthorized: [] };

/** Called with the ApiError when a request answers 401 (the session expired). */
export function onUnauthorized(fn) {
  listeners.unauthorized.push(fn);
}

async function readBody(response) {
  if (response.status === 204 || response.status === 205) return null;
  const text = await response.text();
  if (!text) return null;
  const type = response.headers.get('Content-Type') || '';
  if (type.includes('json')) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}

/**
 * One API request. `body` is sent as JSON unless it is a FormData/Blob/string;
 * `headers` are added; `raw: true` answers the Response itself (2xx only).
 */
export async function request(method, path, { query, body, headers = {}, raw = false, signal, quiet401 = false } = {}) {
  method = method.toUpperCase();
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json', ...headers }, signal };
  if (WRITE_METHODS.has(method)) Object.assign(init.headers, writeHeaders());
  if (body !== undefined) {
    if (body instanceof FormData || body instanceof Blob || typeof body === 'string') {
      init.body = body;
    } else {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
  }
  let response;
  try {
    response = await fetch(apiUrl(path, query), init);
  } catch (err) {
    if (err && err.name === 'AbortError') throw err;
    throw new ApiError(0, 'The server cannot be reached. Check your connection and try again.', null);
  }
  if (!response.ok) {
    const data = await readBody(response).catch(() => null);
    const error = new ApiError(
      response.status,
      errorMessage(data, `${response.status} ${response.statusText || 'error'}`.trim()),
      data,
    );
    error.headers = response.headers;
    if (response.status === 401 && !quiet401) {
      for (const fn of listeners.unauthorized) {
        try { fn(error); } catch (e) { /* a listener must not hide the error */ }
      }
    }
    throw error;
  }
  if (raw) return response;
  return readBody(response);
}

export const api = {
  request,
  get: (path, query, opts = {}) => request('GET', path, { ...opts, query }),
  post: (path, body, opts = {}) => request('POST', path, { ...opts, body }),
  put: (path, body, opts = {}) => request('PUT', path, { ...opts, body }),
  patch: (path, body, opts = {}) => request('PATCH', path, { ...opts, body }),
  del: (path, opts = {}) => request('DELETE', path, opts),

  /** One page of a list endpoint: {count, results, next, previous}. */
  async list(path, query, opts = {}) {
    const data = await request('GET', path, { ...opts, query });
    return {
      count: data && Number.isInteger(data.count) ? data.count : (data?.results || []).length,
      results: (data && data.results) || [],
      next: (data && data.next) || null,
      previous: (data && data.previous) || null,
    };
  },

  /** Every item of a list endpoint, following `next`. */
  async all(path, query = {}, opts = {}) {
    const items = [];
    let page = 1;
    for (;;) {
      const data = await api.list(path, { page_size: 1000, ...query, page }, opts);
      items.push(...data.results);
      if (!data.next || !data.results.length) return items;
      page += 1;
    }
  },

  /** The signed-in user, or null without a session. */
  async me() {
    try {
      return await request('GET', '/api/users/self', { quiet401: true });
    } catch (err) {
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return null;
      throw err;
    }
  },

  login(username, password) {
    return request('POST', '/api/auth/login', { body: { username, password }, quiet401: true });
  },

  async logout() {
    try {
      await request('POST', '/api/auth/logout', { quiet401: true });
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) throw err;
    }
  },
};

export default api;
