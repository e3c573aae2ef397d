import { defaultValue } from './model.js';
import { h } from './dom.js';

// Objects sidebar: one entry per object of the frame, with its label, toggles, z-order, delete,
// track keyframe/outside toggles and (for the selected object) the attributes editor.

const MAX_ENTRIES = 200;

export class Sidebar {
  constructor(ws) {
    this.ws = ws;
    this.el = h('aside', { class: 'ws-sidebar' });
    this.heading = h('h2', { class: 'ws-side-title', id: 'ws-objects-title', text: 'Objects' });
    this.list = h('ul', { class: 'ws-objects', 'aria-label': 'Objects', 'data-testid': 'objects' });
    this.more = h('p', { class: 'ws-more', hidden: true });
    this.empty = h('p', { class: 'ws-empty', text: 'No objects on this frame.' });
    this.el.append(this.heading, this.list, this.more, this.empty);
  }

  // Renders after the next paint (frame changes: the image and shapes show first).
  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => setTimeout(() => {
      if (this.pending) this.render();
    }, 0));
  }

  render() {
    this.pending = false;
    const ws = this.ws, model = ws.model;
    const items = model.frameItems(ws.frame);
    const active = document.activeElement;
    const focusKey = active && this.el.contains(active) ? active.dataset.focus : null;
    let selStart = null;
    try {
      if (focusKey && active.selectionStart != null) selStart = [active.selectionStart, active.selectionEnd];
    } catch { /* number inputs have no selection */ }
    // A value being typed (not committed yet) survives the rebuild.
    const typing = focusKey && active.tagName === 'INPUT' && (active.type === 'text' || active.type === 'number')
      ? active.value : null;
    // Newest objects first would be surprising; keep creation order. Tags, then shapes.
    const ordered = [...items].sort((a, b) => a.obj.order - b.obj.order);
    let shown = ordered;
    if (ordered.length > MAX_ENTRIES) {
      shown = ordered.slice(0, MAX_ENTRIES);
      const sel = ordered.find((i) => i.obj.cid === ws.selected);
      if (sel && !shown.includes(sel)) shown.push(sel);
    }
    const frag = document.createDocumentFragment();
    for (const it of shown) frag.append(this.entry(it));
    this.list.replaceChildren(frag);
    this.more.hidden = shown.length === ordered.length;
    this.more.textContent = `${ordered.length - shown.length} more objects on this frame are not listed.`;
    this.empty.hidden = ordered.length > 0;
    this.heading.textContent = `Objects (${ordered.length})`;
    if (focusKey) {
      const e = this.list.querySelector(`[data-focus="${CSS.escape(focusKey)}"]`);
      if (e) {
        if (typing != null && e.tagName === 'INPUT') e.value = typing;
        e.focus();
        if (selStart && e.setSelectionRange) try { e.setSelectionRange(...selStart); } catch { /* number inputs */ }
      }
    }
  }

  // Selection changed only: update the two entries instead of rebuilding the list.
  updateSelection(prev, next) {
    const items = this.ws.model.frameItems(this.ws.frame);
    for (const cid of [prev, next]) {
      if (cid == null) continue;
      const old = this.list.querySelector(`li[data-cid="${cid}"]`);
      const it = items.find((i) => i.obj.cid === cid);
      if (!old || !it) {
        if (it) return this.render();
        continue;
      }
      const fresh = this.entry(it);
      old.replaceWith(fresh);
      if (cid === next) fresh.scrollIntoView?.({ block: 'nearest' });
    }
  }

  entry(it) {
    const ws = this.ws, tools = ws.tools, o = it.obj, cid = o.cid;
    const label = ws.model.labelById.get(o.label_id);
    const selected = ws.selected === cid;
    const kindText = o.kind === 'tag' ? 'tag' : o.kind === 'track' ? `${o.type} track` : o.type;
    const li = h('li', {
      class: `ws-obj${selected ? ' selected' : ''}${o.hidden ? ' is-hidden' : ''}`,
      'data-cid': cid, 'data-object-id': o.id ?? '', 'data-kind': o.kind, 'data-testid': 'object-item',
      'aria-current': selected ? 'true' : null,
      style: `--obj-color: ${ws.labelColor(o.label_id)}`,
    });
    const title = h('button', {
      class: 'ws-obj-title', type: 'button', 'data-focus': `${cid}:title`,
      'aria-label': `Object ${o.id != null ? o.id : 'new'}: ${label ? label.name : o.label_id}`,
      onclick: () => ws.select(cid),
    }, h('span', { class: 'ws-swatch', 'aria-hidden': 'true' }),
    h('span', { class: 'ws-obj-label', text: label ? label.name : `label ${o.label_id}` }),
    h('span', { class: 'ws-obj-kind', text: ` ${kindText}${o.id != null ? ' #' + o.id : ''}` }));
    const labelSelect = h('select', { 'aria-label': 'Object class', 'data-focus': `${cid}:label`, disabled: o.locked || null,
      onchange: (e) => tools.setLabel(cid, Number(e.target.value)) });
    for (const l of ws.model.labels) labelSelect.append(h('option', { value: l.id, text: l.name, selected: l.id === o.label_id }));
    const btn = (name, pressed, fn, extra = {}) => h('button', {
      type: 'button', class: 'ws-mini', 'aria-label': name, title: name, 'data-focus': `${cid}:${name}`,
      'aria-pressed': pressed == null ? null : String(!!pressed), onclick: fn, ...extra,
    }, h('span', { 'aria-hidden': 'true', text: ICONS[name] || name }));
    const row = h('div', { class: 'ws-obj-actions' });
    if (o.kind !== 'tag') {
      row.append(
        btn('Hide', o.hidden, () => tools.toggleHidden(cid)),
        btn('Lock', o.locked, () => tools.toggleLocked(cid)),
        btn('Occluded', it.g?.occluded, () => tools.toggleOccluded(cid)),
        btn('Bring forward', null, () => tools.zOrder(cid, 1)),
        btn('Send backward', null, () => tools.zOrder(cid, -1)),
      );
      if (o.kind === 'track') {
        row.append(
          btn('Keyframe', it.keyframe, () => tools.toggleKeyframe(cid)),
          btn('Outside', it.outside, () => tools.toggleOutside(cid)),
        );
      }
    }
    row.append(btn('Delete object', null, () => tools.deleteObject(cid), { class: 'ws-mini danger' }));
    li.append(h('div', { class: 'ws-obj-head' }, title, labelSelect), row);
    if (selected) li.append(this.attributes(o, label));
    li.addEventListener('pointerdown', (e) => {
      if (e.target === li) ws.select(cid);
    });
    return li;
  }

  attributes(o, label) {
    const ws = this.ws, cid = o.cid;
    const specs = label?.attributes || [];
    const box = h('div', { class: 'ws-attrs', role: 'group', 'aria-label': 'Attributes' });
    if (!specs.length) return box;
    const values = ws.model.attributesAt(o, ws.frame);
    const disabled = o.locked || null;
    for (const spec of specs) {
      const value = values[spec.id] ?? defaultValue(spec);
      const set = (v) => ws.tools.setAttribute(cid, spec, v);
      const key = `${cid}:attr:${spec.id}`;
      const fid = `ws-attr-${cid}-${spec.id}`;
      let field;
      switch (spec.input_type) {
        case 'select': {
          const s = h('select', { id: fid, 'data-focus': key, disabled, onchange: (e) => set(e.target.value) });
          for (const v of spec.values) s.append(h('option', { value: v, text: v, selected: v === value }));
          if (!spec.values.includes(value) && value !== '') s.append(h('option', { value, text: value, selected: true }));
          field = h('div', { class: 'ws-attr' }, h('label', { for: fid, text: spec.name }), s);
          break;
        }
        case 'radio': {
          const fs = h('fieldset', { class: 'ws-attr ws-radio', role: 'radiogroup', 'aria-label': spec.name });
          fs.append(h('legend', { text: spec.name }));
          for (const v of spec.values) {
            fs.append(h('label', {}, h('input', { type: 'radio', name: `ws-${cid}-${spec.id}`, value: v,
              checked: v === value, disabled, 'data-focus': `${key}:${v}`, onchange: () => set(v) }), ` ${v}`));
          }
          field = fs;
          break;
        }
        case 'checkbox':
          field = h('div', { class: 'ws-attr ws-check' },
            h('input', { id: fid, type: 'checkbox', checked: value === 'true', disabled, 'data-focus': key,
              onchange: (e) => set(e.target.checked ? 'true' : 'false') }), h('label', { for: fid, text: spec.name }));
          break;
        case 'number': {
          const [min, max, step] = spec.values || [];
          field = h('div', { class: 'ws-attr' }, h('label', { for: fid, text: spec.name }),
            h('input', { id: fid, type: 'number', min, max, step, value, disabled, 'data-focus': key,
              onchange: (e) => { if (e.target.value !== '') set(e.target.value); },
              onkeydown: (e) => { if (e.key === 'Enter') e.target.blur(); } }));
          break;
        }
        default:
          field = h('div', { class: 'ws-attr' }, h('label', { for: fid, text: spec.name }),
            h('input', { id: fid, type: 'text', value, disabled, 'data-focus': key,
              onchange: (e) => set(e.target.value),
              onkeydown: (e) => { if (e.key === 'Enter') e.target.blur(); } }));
      }
      box.append(field);
    }
    return box;
  }
}

const ICONS = {
  Hide: 'Hide', Lock: 'Lock', Occluded: 'Occl.', 'Bring forward': '▲', 'Send backward': '▼',
  'Delete object': '✕', Keyframe: 'Key', Outside: 'Out',
};
