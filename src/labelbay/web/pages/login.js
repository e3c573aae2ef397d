// The sign in form.

import { h, showAlert } from '../app.js';
import { ApiError } from '../api.js';

export async function render(root, params, app) {
  if (app.user) {
    app.navigate(app.returnTo || '#/tasks', { replace: true });
    return null;
  }
  app.setTitle('Sign in');

  const username = h('input', {
    id: 'login-username', name: 'username', type: 'text', autocomplete: 'username',
    required: true, autocapitalize: 'none', spellcheck: 'false', autofocus: true,
  });
  const password = h('input', {
    id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true,
  });
  const submit = h('button', { type: 'submit', class: 'button button-primary button-block' }, 'Sign in');
  const errors = h('div', { class: 'form-errors' });

  const form = h('form', { class: 'card login-card', novalidate: true },
    h('h1', { class: 'login-title' }, 'Welcome to Labelbay'),
    h('p', { class: 'login-subtitle muted' }, 'Use your account to continue.'),
    errors,
    h('div', { class: 'field' },
      h('label', { for: 'login-username' }, 'Username'),
      username),
    h('div', { class: 'field' },
      h('label', { for: 'login-password' }, 'Password'),
      password),
    submit);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    showAlert(errors, null);
    const name = username.value.trim();
    if (!name || !password.value) {
      showAlert(errors, 'Enter your username and password.');
      (name ? password : username).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    form.setAttribute('aria-busy', 'true');
    try {
      await app.api.login(name, password.value);
      const user = await app.api.me();
      if (!user) throw new ApiError(401, 'Signed in, but the session was not kept: allow cookies for this site.');
      app.setUser(user);
      const target = app.returnTo && !app.returnTo.startsWith('#/login') ? app.returnTo : '#/tasks';
      app.returnTo = null;
      app.navigate(target);
    } catch (err) {
      const message = err instanceof ApiError && err.status === 400
        ? (err.message || 'Wrong username or password.')
        : (err.message || 'Sign in failed.');
      showAlert(errors, message);
      password.select();
      password.focus();
    } finally {
      submit.disabled = false;
      submit.textContent = 'Sign in';
      form.removeAttribute('aria-busy');
    }
  });

  root.append(h('section', { class: 'login-page' }, form));
  return null;
}
