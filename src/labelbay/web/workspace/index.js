// Job annotation workspace: render(root, {id}, app) -> {leave()}.
import { http } from './http.js';
import { FrameSource } from './frames.js';
import { Viewport } from './view.js';
import { Model } from './model.js';
import { History } from './history.js';
import { Tools } from './tools.js';
import { Sidebar } from './sidebar.js';
import { Player } from './player.js';
import { Keys } from './keys.js';
import { h } from './dom.js';

const AUTOSAVE_MS = 30000;
const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#bfef45',
  '#469990', '#9a6324', '#800000', '#808000', '#000075'];

async function allLabels(jobId) {
  const out = [];
  let page = 1;
  for (;;) {
    const res = await http.get('/api/labels', { job_id: jobId, page_size: 500, page });
    const results = Array.isArray(res) ? res : res.results || [];
    out.push(...results);
    if (Array.isArray(res) || !res.next || !results.length || page > 50) break;
    page++;
  }
  return out;
}

const TOOL_BUTTONS = [
  ['select', 'Select', 'Select and edit objects (Esc)'],
  ['rectangle', 'Rectangle', 'Rectangle: drag to draw'],
  ['polygon', 'Polygon', 'Polygon: click points; double-click, Enter or N finishes'],
  ['polyline', 'Polyline', 'Polyline: click points; double-click, Enter or N finishes'],
  ['points', 'Points', 'Points: click points; double-click, Enter or N finishes'],
  ['ellipse', 'Ellipse', 'Ellipse: drag from the centre'],
  ['tag', 'Tag', 'Tag: adds a tag to the frame'],
];

export async function render(root, params, app) {
  const jobId = Number(params.id);
  app?.setTitle?.(`Job #${jobId}`);
  root.replaceChildren(h('p', { class: 'ws-loading', role: 'status', text: `Loading job ${jobId}…` }));
  let job, labels, meta, annotations;
  try {
    [job, labels, meta, annotations] = await Promise.all([
      http.get(`/api/jobs/${jobId}`),
      allLabels(jobId),
      http.get(`/api/jobs/${jobId}/data/meta`),
      http.get(`/api/jobs/${jobId}/annotations`),
    ]);
  } catch (err) {
    root.replaceChildren(h('div', { class: 'ws-error', role: 'alert', text: `Could not open job ${jobId}: ${err.message}` }));
    return { leave: () => true };
  }

  const start = job.start_frame ?? meta.start_frame ?? 0;
  const stop = job.stop_frame ?? meta.stop_frame ?? start;
  labels.forEach((l, i) => { if (!l.color) l.color = PALETTE[i % PALETTE.length]; });
  const model = new Model(job, labels);
  model.load(annotations);

  // The element the shell gives us is the workspace root (data-zoom, data-offset-x/-y live on it).
  const wsRoot = root;
  wsRoot.classList.add('ws-root');
  wsRoot.dataset.testid = 'workspace';
  wsRoot.dataset.job = String(jobId);
  const ws = {
    root: wsRoot, jobId, job, meta, start, stop, frame: start, selected: null, live: null,
    labelId: labels[0]?.id ?? null, trackMode: false, model, saving: null,
  };
  ws.labelColor = (id) => model.labelById.get(id)?.color || '#ffcc00';
  ws.frameSize = (n) => {
    const f = meta.frames?.[n - (meta.start_frame ?? start)] || meta.frames?.[n - start] || meta.frames?.[0];
    return f ? [f.width, f.height] : [0, 0];
  };

  // ---- toolbar ------------------------------------------------------------------------------
  const btn = (name, icon, fn, { showText = false, ...extra } = {}) => h('button', {
    type: 'button', class: 'ws-btn', 'aria-label': name, title: name, onclick: fn, ...extra },
  icon ? h('span', { class: 'ws-icon', 'aria-hidden': 'true', text: icon }) : null,
  showText ? h('span', { class: 'ws-btn-text', 'aria-hidden': 'true', text: name }) : null);
  const toolButtons = new Map();
  const toolGroup = h('div', { class: 'ws-group', role: 'group', 'aria-label': 'Tools' });
  for (const [tool, name, title] of TOOL_BUTTONS) {
    const b = btn(name, '', () => ws.tools.setTool(tool), { title, showText: true, 'aria-pressed': tool === 'tag' ? null : 'false' });
    toolButtons.set(tool, b);
    toolGroup.append(b);
  }
  const trackBtn = btn('Track', '', () => {
    ws.trackMode = !ws.trackMode;
    trackBtn.setAttribute('aria-pressed', String(ws.trackMode));
  }, { 'aria-pressed': 'false', title: 'Track: new objects are tracks (interpolated between keyframes)', showText: true });
  const labelSelect = h('select', { class: 'ws-label-select', 'aria-label': 'Label', title: 'Label of new objects' });
  for (const l of labels) labelSelect.append(h('option', { value: l.id, text: l.name }));
  labelSelect.disabled = !labels.length;
  labelSelect.addEventListener('change', () => {
    ws.labelId = Number(labelSelect.value);
    labelSelect.blur(); // the next key is a shortcut again (N draws with the new label)
  });
  toolGroup.append(trackBtn, labelSelect);

  const zoomGroup = h('div', { class: 'ws-group', role: 'group', 'aria-label': 'View' },
    btn('Fit', '⤢', () => ws.view.fit(), { title: 'Fit the image' }),
    btn('Zoom in', '+', () => ws.view.zoomBy(1.25)),
    btn('Zoom out', '−', () => ws.view.zoomBy(0.8)));
  const slider = (name) => {
    const input = h('input', { type: 'range', min: 20, max: 300, step: 5, value: 100, 'aria-label': name, title: name });
    input.addEventListener('input', () => ws.view.setFilters(Number(bright.value), Number(contrast.value)));
    input.addEventListener('dblclick', () => { input.value = 100; input.dispatchEvent(new Event('input')); });
    return input;
  };
  const bright = slider('Brightness');
  const contrast = slider('Contrast');
  zoomGroup.append(h('span', { class: 'ws-slider-wrap', 'aria-hidden': 'true', text: '☀' }), bright,
    h('span', { class: 'ws-slider-wrap', 'aria-hidden': 'true', text: '◑' }), contrast);

  const undoBtn = btn('Undo', '↶', () => ws.undo(), { title: 'Undo (Ctrl+Z)' });
  const redoBtn = btn('Redo', '↷', () => ws.redo(), { title: 'Redo (Ctrl+Shift+Z, Ctrl+Y)' });
  const saveBtn = btn('Save', '', () => ws.save(), { title: 'Save (Ctrl+S)', showText: true });
  const saveState = h('span', { class: 'ws-save-state', 'data-testid': 'save-state', role: 'status', text: 'Saved' });
  const finishBtn = btn('Finish job', '', () => ws.finishJob(), { showText: true });
  const helpBtn = btn('Keyboard shortcuts', '?', () => ws.keys.toggleHelp(), { 'aria-expanded': 'false', title: 'Keyboard shortcuts (? or F1)' });
  ws.helpButton = helpBtn;
  const editGroup = h('div', { class: 'ws-group', role: 'group', 'aria-label': 'Edit' }, undoBtn, redoBtn, saveBtn, saveState, finishBtn, helpBtn);
  const title = h('div', { class: 'ws-title' }, h('strong', { text: `Job #${jobId}` }),
    h('span', { class: 'ws-sub', text: `${job.task_name ? job.task_name + ' · ' : ''}frames ${start}–${stop}${job.mode ? ' · ' + job.mode : ''}` }));
  const toolbar = h('div', { class: 'ws-toolbar', role: 'toolbar', 'aria-label': 'Workspace' }, title, toolGroup, zoomGroup, editGroup);

  const notice = h('div', { class: 'ws-notice', role: 'alert' });
  const main = h('div', { class: 'ws-main' });
  const body = h('div', { class: 'ws-body' }, main);
  wsRoot.replaceChildren(toolbar, body, notice);

  ws.notify = (msg, kind = 'error') => {
    notice.textContent = msg || '';
    notice.dataset.kind = kind;
    notice.hidden = !msg;
    clearTimeout(ws.noticeTimer);
    if (msg && kind !== 'error') ws.noticeTimer = setTimeout(() => { notice.hidden = true; }, 4000);
  };
  notice.hidden = true;

  // ---- parts ------------------------------------------------------------------------------
  ws.view = new Viewport(wsRoot, {
    frame: () => ws.frame,
    items: () => model.frameItems(ws.frame),
    colorOf: (o) => ws.labelColor(o.label_id),
    liveCid: () => ws.live,
    selectedCid: () => ws.selected,
    handles: () => ws.tools.handles(),
    overlay: (c, z) => ws.tools.overlay(c, z),
  });
  main.append(ws.view.stage);
  ws.frames = new FrameSource(jobId, start, stop);
  ws.history = new History(model, () => ws.changed());
  ws.tools = new Tools(ws);
  ws.sidebar = new Sidebar(ws);
  body.append(ws.sidebar.el);
  ws.player = new Player(ws);
  wsRoot.append(ws.player.el);
  ws.keys = new Keys(ws);
  wsRoot.append(ws.keys.overlay);

  // ---- state updates ----------------------------------------------------------------------
  const setSaveState = () => {
    const text = ws.saving ? 'Saving…' : model.dirty ? 'Unsaved changes' : 'Saved';
    if (saveState.textContent !== text) saveState.textContent = text;
    saveState.dataset.state = ws.saving ? 'saving' : model.dirty ? 'dirty' : 'saved';
  };
  const updateButtons = () => {
    undoBtn.classList.toggle('is-unavailable', !ws.history.canUndo);
    redoBtn.classList.toggle('is-unavailable', !ws.history.canRedo);
  };
  ws.changed = () => {
    if (ws.selected != null && !model.get(ws.selected)) ws.selected = null;
    setSaveState();
    updateButtons();
    ws.sidebar.render();
    ws.view.invalidate();
  };
  ws.toolChanged = () => {
    for (const [tool, b] of toolButtons) if (tool !== 'tag') b.setAttribute('aria-pressed', String(ws.tools.tool === tool));
  };
  ws.select = (cid) => {
    if (ws.selected === cid) return;
    const prev = ws.selected;
    ws.selected = cid;
    ws.sidebar.updateSelection(prev, cid);
    ws.view.invalidate();
  };
  ws.undo = () => { if (!ws.tools.drag) { ws.tools.cancelDrawing(); ws.history.undo(); } };
  ws.redo = () => { if (!ws.tools.drag) { ws.tools.cancelDrawing(); ws.history.redo(); } };

  const showFrame = (n) => {
    const [w, hgt] = ws.frameSize(n);
    if (w && hgt) ws.view.setFrameSize(w, hgt);
    const bm = ws.frames.peek(n);
    ws.view.setImage(bm, n);
    if (!bm) {
      ws.frames.get(n).then((b) => { if (ws.frame === n) ws.view.setImage(b, n); },
        (err) => { if (ws.frame === n && err.message !== 'closed' && err.message !== 'dropped') ws.notify(err.message); });
    }
    ws.frames.prefetch(n);
  };
  ws.setFrame = (n) => {
    n = Math.max(start, Math.min(stop, Math.round(n)));
    if (n === ws.frame || ws.tools.drag) {
      ws.player.update();
      return;
    }
    ws.tools.cancelDrawing();
    ws.frame = n;
    showFrame(n);
    if (ws.selected != null && !model.frameItems(n).some((it) => it.obj.cid === ws.selected)) ws.selected = null;
    ws.player.update();
    ws.sidebar.schedule();
    ws.view.invalidate();
  };

  // ---- save / finish --------------------------------------------------------------------------
  ws.save = () => {
    if (ws.saving) return ws.saving;
    if (ws.tools.drag) return Promise.resolve(false);
    const run = async () => {
      const rev = model.rev;
      const { data, cids } = model.serialize();
      setSaveState();
      try {
        let answer = await http.put(`/api/jobs/${jobId}/annotations`, data);
        if (!answer || typeof answer !== 'object' || !Array.isArray(answer.shapes)) {
          answer = await http.get(`/api/jobs/${jobId}/annotations`);
        }
        if (model.rev === rev && !ws.tools.drag?.tx) {
          const prev = new Map(model.objects);
          model.load(answer, cids);
          model.restoreUiState(prev);
          model.savedRev = model.rev;
        } else {
          model.version = answer.version ?? model.version;
        }
        ws.notify('');
        return true;
      } catch (err) {
        ws.notify(`Save failed: ${err.message}`);
        return false;
      } finally {
        ws.saving = null;
        ws.changed();
      }
    };
    ws.saving = run();
    setSaveState();
    return ws.saving;
  };
  ws.finishJob = async () => {
    if (model.dirty || ws.saving) {
      await ws.saving;
      if (model.dirty && !(await ws.save())) return;
    }
    try {
      ws.job = await http.patch(`/api/jobs/${jobId}`, { state: 'completed' });
      ws.notify('Job finished (state: completed).', 'info');
      finishBtn.setAttribute('data-state', 'completed');
    } catch (err) {
      ws.notify(`Could not finish the job: ${err.message}`);
    }
  };

  // ---- lifetime ---------------------------------------------------------------------------------
  const onBeforeUnload = (e) => {
    if (model.dirty || ws.saving) {
      e.preventDefault();
      e.returnValue = '';
    }
  };
  window.addEventListener('beforeunload', onBeforeUnload);
  const layout = () => {
    const top = wsRoot.getBoundingClientRect().top + window.scrollY;
    wsRoot.style.height = `${Math.max(420, window.innerHeight - Math.max(0, top) - 4)}px`;
  };
  window.addEventListener('resize', layout);
  const autosave = setInterval(() => {
    if (!wsRoot.isConnected) return destroy();
    if (model.dirty && !ws.saving && !ws.tools.drag) ws.save();
  }, AUTOSAVE_MS);
  let destroyed = false;
  function destroy() {
    if (destroyed) return;
    destroyed = true;
    clearInterval(autosave);
    ws.player.pause();
    ws.keys.destroy();
    ws.view.destroy();
    ws.frames.close();
    window.removeEventListener('beforeunload', onBeforeUnload);
    window.removeEventListener('resize', layout);
  }
  ws.destroy = destroy;

  layout();
  ws.view.resize();
  const [w0, h0] = ws.frameSize(start);
  ws.frame = start;
  if (w0 && h0) ws.view.setFrameSize(w0, h0);
  ws.view.fit();
  ws.view.publish();
  showFrame(start);
  ws.player.update();
  ws.toolChanged();
  ws.changed();
  ws.view.stage.dataset.tool = 'select';
  requestAnimationFrame(layout);

  // Handy for debugging and tests: the live workspace state.
  wsRoot.workspace = ws;

  return {
    isDirty: () => !destroyed && (model.dirty || !!ws.saving),
    leave(force = false) {
      if (destroyed) return true;
      if (!force && (model.dirty || ws.saving)) {
        if (!window.confirm('This job has unsaved changes. Leave without saving?')) return false;
      }
      destroy();
      return true;
    },
  };
}
