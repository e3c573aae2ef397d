// Create project (#/projects/new) and create task (#/tasks/new) forms.
//
// Task creation: POST /api/tasks -> POST /api/tasks/<id>/data/ (Upload-Start, {image_quality})
// -> one TUS upload per file -> POST /api/tasks/<id>/data/ (Upload-Finish, data params)
// -> {rq_id} (polled at /api/requests/<rq>) -> the task page.

import { h, nextId, showAlert, formatBytes } from '../app.js';
import { ApiError } from '../api.js';
import { DataUpload } from './data-upload.js';
import { LabelsEditor } from './labels-editor.js';

const IMAGE_EXT = ['.jpg', '.jpeg', '.jpe', '.png', '.bmp', '.tif', '.tiff', '.webp'];
const VIDEO_EXT = ['.mp4', '.webm', '.mkv', '.avi', '.mov', '.m4v'];
const ARCHIVE_EXT = ['.zip', '.tar', '.tar.gz', '.tgz', '.tar.bz2', '.tar.xz'];
const ACCEPT = [...IMAGE_EXT, ...VIDEO_EXT, ...ARCHIVE_EXT, 'image/*', 'video/*'].join(',');

function isMedia(name) {
  const lower = name.toLowerCase();
  return [...IMAGE_EXT, ...VIDEO_EXT, ...ARCHIVE_EXT].some((ext) => lower.endsWith(ext));
}


// ---------------------------------------------------------------------------------------------
// The page

export async function render(root, params, app) {
  const isTask = params.kind === 'task';
  const query = params.query || {};
  const noun = isTask ? 'task' : 'project';
  app.setTitle(isTask ? 'Create task' : 'Create project');

  let projects = [];
  if (isTask) {
    try {
      projects = await app.api.all('/api/projects', { page_size: 1000 });
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) throw err;
      projects = [];
    }
  }

  const editor = new LabelsEditor();
  const errors = h('div', { class: 'form-errors' });
  const notice = h('div', { class: 'form-notice', role: 'status', 'aria-live': 'polite' });

  const nameInput = h('input', { id: nextId('name'), type: 'text', required: true, maxlength: '256', autocomplete: 'off', autofocus: true });
  const fields = [field('Name', nameInput)];

  let segmentInput;
  let qualityInput;
  let projectSelect;
  let filesInput;
  let folderInput;
  let selection;
  if (isTask) {
    if (projects.length) {
      projectSelect = h('select', { id: nextId('project') },
        h('option', { value: '' }, 'No project'),
        projects.map((p) => h('option', { value: String(p.id) }, p.name)));
      if (query.project_id && projects.some((p) => String(p.id) === String(query.project_id))) {
        projectSelect.value = String(query.project_id);
      }
      fields.push(field('Project', projectSelect, 'A task in a project uses the project’s labels.'));
    }
    segmentInput = h('input', { id: nextId('segment'), type: 'number', min: '1', step: '1', inputmode: 'numeric', placeholder: 'All frames in one job' });
    qualityInput = h('input', { id: nextId('quality'), type: 'number', min: '1', max: '100', step: '1', value: '70', inputmode: 'numeric', required: true });
    filesInput = h('input', { id: nextId('files'), type: 'file', multiple: true, accept: ACCEPT, class: 'file-input' });
    folderInput = h('input', { id: nextId('folder'), type: 'file', multiple: true, class: 'file-input' });
    folderInput.webkitdirectory = true;
    folderInput.setAttribute('webkitdirectory', '');
    selection = h('div', { class: 'file-summary', 'aria-live': 'polite' });
  }

  const submit = h('button', { type: 'submit', class: 'button button-primary' }, 'Submit');
  const cancelLink = h('a', { href: isTask ? '#/tasks' : '#/projects', class: 'button button-quiet' }, 'Cancel');

  // Upload progress (task only).
  const bar = h('div', {
    class: 'progress', role: 'progressbar', 'aria-label': 'Upload progress',
    'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': '0',
  }, h('div', { class: 'progress-fill' }));
  const progressText = h('p', { class: 'progress-text' });
  const pauseButton = h('button', { type: 'button', class: 'button', disabled: true }, 'Pause');
  const resumeButton = h('button', { type: 'button', class: 'button', disabled: true }, 'Resume');
  const cancelUpload = h('button', { type: 'button', class: 'button button-quiet' }, 'Cancel upload');
  const progress = h('section', { class: 'upload-progress card', hidden: true, 'aria-label': 'Upload' },
    h('div', { class: 'progress-head' }, h('h2', {}, 'Uploading'), progressText),
    bar,
    h('div', { class: 'progress-actions' }, pauseButton, resumeButton, cancelUpload));

  const specFields = h('fieldset', { class: 'plain-fieldset' }, fields);
  const mainFields = [specFields];
  if (isTask) {
    mainFields.push(h('div', { class: 'field-grid' },
      field('Segment size', segmentInput, 'Frames per job. Leave empty for one job with every frame.'),
      field('Image quality', qualityInput, 'JPEG quality of the compressed frames, 1–100.')));
  }
  mainFields.push(editor.element);

  let dataFieldset = null;
  if (isTask) {
    dataFieldset = h('fieldset', { class: 'data-fieldset' },
      h('legend', {}, 'Data'),
      h('p', { class: 'muted' }, 'Images (JPEG, PNG, BMP, TIFF, WebP), one zip or tar archive of images, or one video.'),
      h('div', { class: 'field-grid' },
        fileField('Files', filesInput, 'Several images, or one archive or video.'),
        fileField('Folder', folderInput, 'Every image in a folder and its subfolders.')),
      selection);
    mainFields.push(dataFieldset);
  }

  const form = h('form', { class: 'card form', novalidate: true },
    errors,
    mainFields,
    notice,
    progress,
    h('div', { class: 'form-actions' }, submit, cancelLink));

  root.append(h('section', { class: 'page page-form' },
    h('div', { class: 'page-header' },
      h('div', { class: 'page-heading' },
        h('p', { class: 'eyebrow' }, isTask ? 'New task' : 'New project'),
        h('h1', {}, isTask ? 'Create task' : 'Create project'))),
    form));

  // ---- behaviour --------------------------------------------------------------------------

  const state = { task: null, upload: null, busy: false };

  function selectedFiles() {
    if (!isTask) return { files: [], skipped: [] };
    const files = Array.from(filesInput.files || []);
    const skipped = [];
    for (const file of Array.from(folderInput.files || [])) {
      const path = file.webkitRelativePath || file.name;
      const hidden = path.split('/').some((part) => part.startsWith('.'));
      if (hidden || !isMedia(file.name)) skipped.push(file);
      else files.push(file);
    }
    return { files, skipped };
  }

  function updateSelection() {
    if (!isTask) return;
    const { files, skipped } = selectedFiles();
    selection.replaceChildren();
    if (!files.length && !skipped.length) return;
    const bytes = files.reduce((sum, f) => sum + f.size, 0);
    selection.append(h('p', {},
      h('strong', {}, `${files.length} ${files.length === 1 ? 'file' : 'files'}`), ` selected · ${formatBytes(bytes)}`,
      skipped.length ? h('span', { class: 'muted' }, ` · ${skipped.length} skipped in the folder (not images, archives or videos)`) : null));
    const shown = files.slice(0, 8).map((f) => h('li', {}, f.webkitRelativePath || f.name, h('span', { class: 'muted' }, ` ${formatBytes(f.size)}`)));
    if (files.length > 8) shown.push(h('li', { class: 'muted' }, `… and ${files.length - 8} more`));
    selection.append(h('ul', { class: 'file-list' }, shown));
  }
  if (isTask) {
    filesInput.addEventListener('change', updateSelection);
    folderInput.addEventListener('change', updateSelection);
  }

  function syncProject() {
    if (!projectSelect) return;
    const inProject = Boolean(projectSelect.value);
    editor.setDisabled(inProject || Boolean(state.task), inProject ? 'Tasks in a project use the project’s labels.' : null);
  }
  if (projectSelect) {
    projectSelect.addEventListener('change', syncProject);
    syncProject();
  }

  function lockSpec(locked) {
    specFields.disabled = locked;
    if (segmentInput) segmentInput.disabled = locked;
    if (locked) editor.setDisabled(true, `Task #${state.task.id} is created: its name and labels are kept.`);
    else {
      editor.setDisabled(false, null);
      syncProject();
    }
  }

  function setBusy(busy) {
    state.busy = busy;
    submit.disabled = busy;
    form.setAttribute('aria-busy', busy ? 'true' : 'false');
    if (dataFieldset) dataFieldset.disabled = busy;
    if (qualityInput) qualityInput.disabled = busy;
    if (busy) {
      specFields.disabled = true;
      editor.setDisabled(true, null);
    } else {
      lockSpec(Boolean(state.task));
    }
  }

  function drawProgress(p) {
    const percent = p.total > 0 ? Math.floor((p.sent / p.total) * 100) : (p.phase === 'finish' || p.phase === 'done' ? 100 : 0);
    const value = Math.max(0, Math.min(100, p.phase === 'done' ? 100 : percent));
    bar.setAttribute('aria-valuenow', String(value));
    bar.firstChild.style.width = `${value}%`;
    let text;
    if (p.phase === 'start') text = 'Preparing the upload…';
    else if (p.phase === 'finish') text = 'Processing the files on the server…';
    else if (p.phase === 'done') text = 'Done.';
    else {
      text = `${p.paused ? 'Paused · ' : ''}File ${Math.min(p.index + 1, p.count)} of ${p.count} · ${formatBytes(p.sent)} of ${formatBytes(p.total)} (${value}%)`;
    }
    bar.setAttribute('aria-valuetext', `${value}%`);
    progressText.textContent = text;
    bar.classList.toggle('is-paused', p.paused);
    const canPause = p.phase === 'files';
    pauseButton.disabled = !canPause || p.paused;
    resumeButton.disabled = !canPause || !p.paused;
    cancelUpload.disabled = p.phase === 'done';
  }

  pauseButton.addEventListener('click', () => {
    if (!state.upload) return;
    state.upload.pause();
    resumeButton.focus();
  });
  resumeButton.addEventListener('click', () => {
    if (!state.upload) return;
    state.upload.resume();
    pauseButton.focus();
  });
  cancelUpload.addEventListener('click', () => {
    if (state.upload) state.upload.abort();
  });

  function validate() {
    const problems = [];
    const name = nameInput.value.trim();
    if (!name) problems.push({ message: `Enter a name for the ${noun}.`, field: nameInput });
    const inProject = Boolean(projectSelect && projectSelect.value);
    const { labels, errors: labelErrors } = editor.read();
    if (!inProject) problems.push(...labelErrors);
    const body = { name };
    if (inProject) body.project_id = Number(projectSelect.value);
    else body.labels = labels;
    let quality = 70;
    let files = [];
    if (isTask) {
      const seg = segmentInput.value.trim();
      if (seg !== '') {
        const n = Number(seg);
        if (!Number.isInteger(n) || n < 1) problems.push({ message: 'Segment size: enter a whole number of frames (1 or more), or leave it empty.', field: segmentInput });
        else body.segment_size = n;
      }
      const q = Number(qualityInput.value.trim() || '70');
      if (!Number.isInteger(q) || q < 1 || q > 100) problems.push({ message: 'Image quality: enter a whole number from 1 to 100.', field: qualityInput });
      else quality = q;
      ({ files } = selectedFiles());
      if (!files.length) {
        problems.push({ message: 'Choose the files or the folder to upload.', field: filesInput });
      }
      const byName = new Map();
      for (const file of files) {
        const shown = file.webkitRelativePath || file.name;
        if (byName.has(file.name)) {
          problems.push({ message: `Two files are named “${file.name}” (${byName.get(file.name)} and ${shown}); frames are named after files, so rename one.`, field: folderInput });
          break;
        }
        byName.set(file.name, shown);
      }
    }
    return { problems, body, quality, files };
  }

  function report(problems, actions = []) {
    if (!problems.length) {
      showAlert(errors, null);
      return;
    }
    const box = showAlert(errors, problems.length === 1 ? problems[0].message : 'Please fix the following:', { actions });
    if (problems.length > 1) {
      box.querySelector('.alert-text').after(h('ul', { class: 'alert-list' }, problems.map((p) => h('li', {}, p.message))));
    }
    for (const p of problems) if (p.field) p.field.setAttribute('aria-invalid', 'true');
    const first = problems.find((p) => p.field && !p.field.disabled);
    if (first) first.field.focus();
  }

  form.addEventListener('input', (event) => {
    if (event.target.getAttribute && event.target.getAttribute('aria-invalid')) event.target.removeAttribute('aria-invalid');
  });
  form.addEventListener('change', (event) => {
    if (event.target.getAttribute && event.target.getAttribute('aria-invalid')) event.target.removeAttribute('aria-invalid');
  });

  function failedUploadActions() {
    const retry = h('button', { type: 'button', class: 'button button-primary button-small', onclick: () => submitForm() }, 'Retry upload');
    const remove = h('button', { type: 'button', class: 'button button-danger button-small', onclick: () => deleteCreatedTask(remove) }, 'Delete task');
    return [retry, remove];
  }

  async function deleteCreatedTask(button) {
    if (!state.task) return;
    button.disabled = true;
    try {
      await app.api.del(`/api/tasks/${state.task.id}`);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) {
        button.disabled = false;
        showAlert(errors, `The task could not be deleted: ${err.message}`, { actions: failedUploadActions() });
        return;
      }
    }
    const name = state.task.name;
    state.task = null;
    showAlert(errors, null);
    progress.hidden = true;
    lockSpec(false);
    notice.textContent = `Task “${name}” was deleted. You can change the form and submit again.`;
    nameInput.focus();
  }

  async function submitForm() {
    if (state.busy) return;
    notice.textContent = '';
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    const { problems, body, quality, files } = validate();
    // Once the task exists only its data matters.
    const relevant = state.task ? problems.filter((p) => p.field === filesInput || p.field === folderInput || p.field === qualityInput) : problems;
    if (relevant.length) {
      report(relevant, state.task ? failedUploadActions() : []);
      return;
    }
    showAlert(errors, null);
    setBusy(true);

    if (!isTask) {
      try {
        const project = await app.api.post('/api/projects', body);
        state.done = true;
        app.announce(`Project ${project.name} created.`);
        app.navigate('#/projects');
      } catch (err) {
        setBusy(false);
        if (err instanceof ApiError && err.status === 401) return;
        report([{ message: `The project could not be created: ${err.message}` }]);
      }
      return;
    }

    if (!state.task) {
      try {
        state.task = await app.api.post('/api/tasks', body);
      } catch (err) {
        setBusy(false);
        if (err instanceof ApiError && err.status === 401) return;
        report([{ message: `The task could not be created: ${err.message}` }]);
        return;
      }
    }

    const upload = new DataUpload(state.task.id, files, quality, drawProgress);
    state.upload = upload;
    progress.hidden = false;
    drawProgress({ sent: 0, total: upload.total, index: 0, count: files.length, phase: 'start', paused: false });
    try {
      await upload.run(app.api);
      state.upload = null;
      state.done = true;
      app.announce(`Task ${state.task.name} created.`);
      app.navigate(`#/tasks/${state.task.id}`);
    } catch (err) {
      state.upload = null;
      setBusy(false);
      if (err instanceof ApiError && err.status === 401) return;
      pauseButton.disabled = true;
      resumeButton.disabled = true;
      cancelUpload.disabled = true;
      const reason = err && err.name === 'AbortError' ? 'the upload was cancelled.' : err.message;
      const box = showAlert(errors,
        `Task “${state.task.name}” (#${state.task.id}) was created, but its data could not be uploaded: ${reason}`,
        { actions: failedUploadActions() });
      box.querySelector('.alert-text').after(h('p', { class: 'alert-hint' }, 'Choose other files and retry the upload, or delete the task.'));
      progress.hidden = true;
      bar.classList.remove('is-paused');
      box.scrollIntoView({ block: 'nearest' });
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    submitForm();
  });

  return {
    async leave(force) {
      if (state.done || force === true) return true;
      if (state.upload) {
        if (!window.confirm('An upload is in progress. Leave this page and cancel it?')) return false;
        state.upload.abort();
      }
      return true;
    },
    isDirty() {
      return Boolean(state.upload);
    },
  };
}

function field(labelText, input, help) {
  const id = input.id || nextId('field');
  input.id = id;
  let helpEl = null;
  if (help) {
    helpEl = h('p', { class: 'help', id: `${id}-help` }, help);
    input.setAttribute('aria-describedby', helpEl.id);
  }
  return h('div', { class: 'field' }, h('label', { for: id }, labelText), input, helpEl);
}

function fileField(labelText, input, help) {
  const id = input.id || nextId('file');
  input.id = id;
  const helpEl = h('p', { class: 'help', id: `${id}-help` }, help);
  input.setAttribute('aria-describedby', helpEl.id);
  return h('div', { class: 'field file-field' }, h('label', { for: id }, labelText), input, helpEl);
}
