// Create project (#/projects/new) and create task (#/tasks/new) forms.
//
// Task creation: POST /api/tasks -> POST /api/tasks/<id>/data/ (Upload-Start, {image_quality})
// -> one TUS upload per file -> POST /api/tasks/<id>/data/ (Upload-Finish, data params)
// -> {rq_id} (polled at /api/requests/<rq>) -> the task page.

import { h, nextId, showAlert, formatBytes } from '../app.js';
import { ApiError } from '../api.js';
import { TusUpload } from '../tus.js';

const PALETTE = [
  '#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#bfef45',
  '#fabed4', '#469990', '#dcbeff', '#9a6324', '#800000', '#aaffc3', '#808000', '#000075',
];
const ATTRIBUTE_TYPES = ['select', 'radio', 'checkbox', 'text', 'number'];
const VALUE_HINTS = {
  select: 'Values, comma separated: e.g. red, green, blue',
  radio: 'Values, comma separated: e.g. yes, no',
  checkbox: 'Not needed: true or false (set the default value)',
  text: 'Not needed: free text (set the default value)',
  number: 'min, max, step: e.g. 0, 100, 1',
};
const IMAGE_EXT = ['.jpg', '.jpeg', '.jpe', '.png', '.bmp', '.tif', '.tiff', '.webp'];
const VIDEO_EXT = ['.mp4', '.webm', '.mkv', '.avi', '.mov', '.m4v'];
const ARCHIVE_EXT = ['.zip', '.tar', '.tar.gz', '.tgz', '.tar.bz2', '.tar.xz'];
const ACCEPT = [...IMAGE_EXT, ...VIDEO_EXT, ...ARCHIVE_EXT, 'image/*', 'video/*'].join(',');
const POLL_MS = 1000;

function isMedia(name) {
  const lower = name.toLowerCase();
  return [...IMAGE_EXT, ...VIDEO_EXT, ...ARCHIVE_EXT].some((ext) => lower.endsWith(ext));
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function splitValues(text) {
  return text.split(',').map((v) => v.trim()).filter((v) => v !== '');
}

// ---------------------------------------------------------------------------------------------
// Labels editor

class LabelsEditor {
  constructor() {
    this.labels = [];
    this.count = 0;
    this.list = h('div', { class: 'labels-list' });
    this.empty = h('p', { class: 'muted labels-empty' }, 'No labels yet. Add the object classes annotators will use.');
    this.addButton = h('button', { type: 'button', class: 'button', onclick: () => this.addLabel(true) }, '+ ', 'Add label');
    this.addButton.setAttribute('aria-label', 'Add label');
    this.note = h('p', { class: 'muted labels-note', hidden: true }, 'Tasks in a project use the project’s labels.');
    this.element = h('fieldset', { class: 'labels-editor', 'aria-label': 'Labels' },
      h('legend', {}, 'Labels'),
      this.note,
      this.list,
      this.empty,
      h('div', { class: 'labels-footer' }, this.addButton));
  }

  setDisabled(disabled, note) {
    this.element.disabled = disabled;
    this.element.classList.toggle('is-disabled', disabled);
    this.note.hidden = !note;
    if (note) this.note.textContent = note;
  }

  nextColor() {
    const used = new Set(this.labels.map((l) => l.color.value.toLowerCase()));
    const free = PALETTE.find((c) => !used.has(c));
    return free || PALETTE[this.count % PALETTE.length];
  }

  addLabel(focus = false) {
    this.count += 1;
    const label = { attributes: [] };
    label.name = h('input', { type: 'text', class: 'label-name', 'aria-label': 'Label name', placeholder: 'Label name, e.g. car', maxlength: '64', autocomplete: 'off' });
    label.color = h('input', { type: 'color', class: 'label-color', 'aria-label': 'Label color', value: this.nextColor() });
    label.attrList = h('div', { class: 'attr-list' });
    const addAttr = h('button', { type: 'button', class: 'button button-small', onclick: () => this.addAttribute(label, true) }, '+ ', 'Add attribute');
    addAttr.setAttribute('aria-label', 'Add attribute');
    const remove = h('button', {
      type: 'button', class: 'button button-small button-danger-quiet', 'aria-label': 'Remove label', title: 'Remove label',
      onclick: () => this.removeLabel(label),
    }, 'Remove');
    label.element = h('div', { class: 'label-card' },
      h('div', { class: 'label-row' }, label.color, label.name, addAttr, remove),
      label.attrList);
    this.labels.push(label);
    this.list.append(label.element);
    this.refresh();
    if (focus) label.name.focus();
    return label;
  }

  removeLabel(label) {
    const index = this.labels.indexOf(label);
    if (index < 0) return;
    this.labels.splice(index, 1);
    label.element.remove();
    this.refresh();
    const neighbour = this.labels[Math.min(index, this.labels.length - 1)];
    (neighbour ? neighbour.name : this.addButton).focus();
  }

  addAttribute(label, focus = false) {
    const attr = {};
    attr.name = h('input', { type: 'text', class: 'attr-name', 'aria-label': 'Attribute name', placeholder: 'Attribute name', maxlength: '64', autocomplete: 'off' });
    attr.type = h('select', { class: 'attr-type', 'aria-label': 'Attribute type' },
      ATTRIBUTE_TYPES.map((t) => h('option', { value: t }, t)));
    attr.values = h('input', { type: 'text', class: 'attr-values', 'aria-label': 'Attribute values', autocomplete: 'off' });
    attr.mutable = h('input', { type: 'checkbox', class: 'attr-mutable' });
    attr.defaultValue = h('input', { type: 'text', class: 'attr-default', 'aria-label': 'Default value', placeholder: 'Default', maxlength: '128', autocomplete: 'off' });
    const mutableId = nextId('mutable');
    attr.mutable.id = mutableId;
    const hint = () => {
      attr.values.placeholder = VALUE_HINTS[attr.type.value];
      attr.values.title = VALUE_HINTS[attr.type.value];
    };
    attr.type.addEventListener('change', hint);
    hint();
    const remove = h('button', {
      type: 'button', class: 'button button-small button-icon button-danger-quiet', 'aria-label': 'Remove attribute', title: 'Remove attribute',
      onclick: () => {
        const i = label.attributes.indexOf(attr);
        label.attributes.splice(i, 1);
        attr.element.remove();
        const neighbour = label.attributes[Math.min(i, label.attributes.length - 1)];
        (neighbour ? neighbour.name : label.name).focus();
      },
    }, '×');
    attr.element = h('div', { class: 'attr-row' },
      attr.name, attr.type, attr.values,
      h('span', { class: 'check' }, attr.mutable, h('label', { for: mutableId }, 'Mutable')),
      attr.defaultValue, remove);
    label.attributes.push(attr);
    label.attrList.append(attr.element);
    if (focus) attr.name.focus();
    return attr;
  }

  refresh() {
    this.empty.hidden = this.labels.length > 0;
  }

  /** The labels as the API wants them, plus messages for what is wrong. */
  read() {
    const errors = [];
    const labels = [];
    const seen = new Set();
    this.labels.forEach((label, i) => {
      const name = label.name.value.trim();
      const where = name ? `Label “${name}”` : `Label ${i + 1}`;
      if (!name) errors.push({ message: `${where}: enter a name.`, field: label.name });
      else if (seen.has(name)) errors.push({ message: `${where}: two labels have this name.`, field: label.name });
      seen.add(name);
      const color = label.color.value;
      const attributes = [];
      const attrSeen = new Set();
      label.attributes.forEach((attr, j) => {
        const result = readAttribute(attr, j);
        const aName = result.value ? result.value.name : '';
        if (result.error) errors.push({ message: `${where}, ${result.error}`, field: result.field });
        else if (attrSeen.has(aName)) errors.push({ message: `${where}, attribute “${aName}”: two attributes have this name.`, field: attr.name });
        else attributes.push(result.value);
        attrSeen.add(aName);
      });
      labels.push({ name, color, attributes });
    });
    return { labels, errors };
  }
}

function readAttribute(attr, index) {
  const name = attr.name.value.trim();
  const type = attr.type.value;
  const where = name ? `attribute “${name}”` : `attribute ${index + 1}`;
  if (!name) return { error: `${where}: enter a name.`, field: attr.name };
  let values = splitValues(attr.values.value);
  let def = attr.defaultValue.value.trim();
  switch (type) {
    case 'select':
    case 'radio':
      if (!values.length) return { error: `${where}: list its values, separated by commas.`, field: attr.values };
      if (new Set(values).size !== values.length) return { error: `${where}: a value is listed twice.`, field: attr.values };
      if (!def) def = values[0];
      if (!values.includes(def)) return { error: `${where}: the default value must be one of its values.`, field: attr.defaultValue };
      break;
    case 'checkbox':
      def = (def || values[0] || 'false').toLowerCase();
      if (def !== 'true' && def !== 'false') return { error: `${where}: a checkbox's default value is true or false.`, field: attr.defaultValue };
      values = [def];
      break;
    case 'text':
      if (!def && values.length) def = attr.values.value.trim();
      values = [def];
      break;
    case 'number': {
      if (values.length !== 3 || values.some((v) => !Number.isFinite(Number(v)))) {
        return { error: `${where}: give min, max and step as three numbers, e.g. 0, 100, 1.`, field: attr.values };
      }
      const [min, max, step] = values.map(Number);
      if (!(min < max)) return { error: `${where}: min must be smaller than max.`, field: attr.values };
      if (!(step > 0)) return { error: `${where}: step must be greater than 0.`, field: attr.values };
      if (!def) def = values[0];
      const d = Number(def);
      if (!Number.isFinite(d) || d < min || d > max) return { error: `${where}: the default value must be a number from ${min} to ${max}.`, field: attr.defaultValue };
      break;
    }
    default:
      return { error: `${where}: unknown type ${type}.`, field: attr.type };
  }
  return { value: { name, input_type: type, mutable: attr.mutable.checked, values, default_value: def } };
}

// ---------------------------------------------------------------------------------------------
// Upload of a task's data

class DataUpload {
  constructor(taskId, files, quality, onProgress) {
    this.taskId = taskId;
    this.files = files;
    this.quality = quality;
    this.onProgress = onProgress;
    this.total = files.reduce((sum, f) => sum + f.size, 0);
    this.done = 0;
    this.index = 0;
    this.phase = 'idle';
    this.paused = false;
    this.aborted = false;
    this.current = null;
    this.wake = null;
  }

  get url() {
    return `/api/tasks/${this.taskId}/data/`;
  }

  report(extra = 0) {
    this.onProgress({
      sent: Math.min(this.total, this.done + extra),
      total: this.total,
      index: this.index,
      count: this.files.length,
      phase: this.phase,
      paused: this.paused,
    });
  }

  pause() {
    if (this.phase !== 'files' || this.paused) return;
    this.paused = true;
    if (this.current) this.current.pause();
    this.report(this.current ? this.current.offset : 0);
  }

  resume() {
    if (!this.paused) return;
    this.paused = false;
    if (this.current) this.current.resume();
    if (this.wake) {
      const wake = this.wake;
      this.wake = null;
      wake();
    }
    this.report(this.current ? this.current.offset : 0);
  }

  abort() {
    this.aborted = true;
    if (this.current) this.current.abort();
    if (this.wake) {
      const wake = this.wake;
      this.wake = null;
      wake();
    }
  }

  checkAborted() {
    if (this.aborted) {
      const err = new Error('The upload was cancelled.');
      err.name = 'AbortError';
      throw err;
    }
  }

  async run(api) {
    this.phase = 'start';
    this.report();
    await api.request('POST', this.url, {
      headers: { 'Upload-Start': 'true' },
      body: { image_quality: this.quality },
    });
    this.phase = 'files';
    for (this.index = 0; this.index < this.files.length; this.index += 1) {
      this.checkAborted();
      if (this.paused) {
        await new Promise((resolve) => { this.wake = resolve; });
        this.checkAborted();
      }
      const file = this.files[this.index];
      const upload = new TusUpload(file, this.url, { filename: file.name });
      upload.onProgress = (sent) => this.report(sent);
      this.current = upload;
      if (this.paused) upload.pause();
      await upload.start();
      this.current = null;
      this.done += file.size;
      this.report();
    }
    this.checkAborted();
    this.phase = 'finish';
    this.report();
    const answer = await api.request('POST', this.url, {
      headers: { 'Upload-Finish': 'true' },
      body: { image_quality: this.quality, sorting_method: 'natural' },
    });
    const rq = answer && answer.rq_id;
    if (rq) await this.waitFor(api, rq);
    this.phase = 'done';
    this.report();
  }

  async waitFor(api, rq) {
    for (;;) {
      this.checkAborted();
      let request;
      try {
        request = await api.get(`/api/requests/${encodeURIComponent(rq)}`);
      } catch (err) {
        if (err instanceof ApiError && err.status === 404) return; // not kept: nothing to wait for
        throw err;
      }
      if (request.status === 'finished') return;
      if (request.status === 'failed') {
        throw new ApiError(400, request.message || 'The server could not process the uploaded files.', request);
      }
      await sleep(POLL_MS);
    }
  }
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
