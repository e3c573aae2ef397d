// Annotations of one job in CVAT's LabeledData terms, with a per-frame view (interpolated tracks).
import { lerpGeometry, normDeg } from './geom.js';

export const DRAWABLE = new Set(['rectangle', 'polygon', 'polyline', 'points', 'ellipse']);

const clone = (v) => structuredClone(v);

function attrMap(list) {
  const m = {};
  for (const a of list || []) m[a.spec_id] = String(a.value);
  return m;
}

function attrList(map) {
  return Object.entries(map).map(([k, v]) => ({ spec_id: Number(k), value: String(v) }));
}

export function defaultValue(spec) {
  if (spec.default_value != null && spec.default_value !== '') return String(spec.default_value);
  if (spec.input_type === 'checkbox') return 'false';
  if (spec.input_type === 'number') return String(spec.values?.[0] ?? '0');
  if (spec.input_type === 'text') return String(spec.values?.[0] ?? '');
  return String(spec.values?.[0] ?? '');
}

function geomOf(s) {
  return {
    type: s.type,
    points: (s.points || []).map(Number),
    rotation: Number(s.rotation || 0),
    occluded: !!s.occluded,
    outside: !!s.outside,
    z_order: s.z_order | 0,
  };
}

export class Model {
  constructor(job, labels) {
    this.job = job;
    this.labels = labels;
    this.labelById = new Map(labels.map((l) => [l.id, l]));
    this.objects = new Map();
    this.version = 0;
    this.rev = 0;
    this.savedRev = 0;
    this.seq = 0;
    this._cache = null;
    this.listeners = new Set();
  }

  get dirty() { return this.rev !== this.savedRev; }

  touch() {
    this.rev++;
    this._cache = null;
    for (const f of this.listeners) f();
  }

  specs(labelId) {
    return this.labelById.get(labelId)?.attributes || [];
  }

  // Builds objects from a LabeledData answer. `keep` = {tags, shapes, tracks}: client ids of the
  // objects sent in a save, in order, so that selection and history survive the save (the
  // server answers the saved objects in the order they were sent).
  load(data, keep = null) {
    this.objects.clear();
    this.version = data.version ?? 0;
    const taken = new Set();
    const picker = (list) => {
      let i = 0;
      return () => {
        while (list && i < list.length) {
          const c = list[i++];
          if (!taken.has(c)) return c;
        }
        return null;
      };
    };
    const fresh = [];
    const add = (obj, next) => {
      const c = next();
      if (c != null) {
        obj.cid = c;
        taken.add(c);
      } else fresh.push(obj);
      this.objects.set(obj.cid ?? -fresh.length, obj);
    };
    const nt = picker(keep?.tags), ns = picker(keep?.shapes), nk = picker(keep?.tracks);
    for (const t of data.tags || []) {
      add({ cid: null, kind: 'tag', id: t.id ?? null, frame: t.frame, label_id: t.label_id,
        group: t.group ?? 0, source: t.source || 'manual', attributes: attrMap(t.attributes),
        hidden: false, locked: false }, nt);
    }
    for (const s of data.shapes || []) {
      const obj = { cid: null, kind: 'shape', id: s.id ?? null, frame: s.frame, label_id: s.label_id,
        group: s.group ?? 0, source: s.source || 'manual', attributes: attrMap(s.attributes),
        hidden: false, locked: false, ...geomOf(s) };
      if (s.elements && s.elements.length) obj.elements = s.elements;
      if (s.score != null) obj.score = s.score;
      add(obj, ns);
    }
    for (const t of data.tracks || []) {
      const shapes = (t.shapes || []).map((s) => ({ id: s.id ?? null, frame: s.frame, ...geomOf(s),
        attributes: attrMap(s.attributes) })).sort((a, b) => a.frame - b.frame);
      const obj = { cid: null, kind: 'track', id: t.id ?? null, frame: t.frame, label_id: t.label_id,
        group: t.group ?? 0, source: t.source || 'manual', attributes: attrMap(t.attributes),
        hidden: false, locked: false, type: shapes[0]?.type || 'rectangle', shapes };
      if (t.elements && t.elements.length) obj.elements = t.elements;
      add(obj, nk);
    }
    for (const c of taken) if (c > this.seq) this.seq = c;
    const all = [...this.objects.values()];
    this.objects.clear();
    for (const o of all) {
      if (o.cid == null) o.cid = ++this.seq;
      o.order = o.cid;
      this.objects.set(o.cid, o);
    }
    this._cache = null;
  }

  // Keeps the hidden/locked UI state of objects across a reload.
  restoreUiState(prev) {
    for (const [cid, o] of this.objects) {
      const p = prev.get(cid);
      if (p) { o.hidden = p.hidden; o.locked = p.locked; }
    }
  }

  sorted() {
    return [...this.objects.values()].sort((a, b) => a.order - b.order);
  }

  serialize() {
    const tags = [], shapes = [], tracks = [];
    const cids = { tags: [], shapes: [], tracks: [] };
    const objs = this.sorted();
    for (const o of objs) if (o.kind === 'tag') {
      cids.tags.push(o.cid);
      tags.push({ id: o.id, frame: o.frame, label_id: o.label_id, group: o.group || 0, source: o.source,
        attributes: attrList(o.attributes) });
    }
    for (const o of objs) if (o.kind === 'shape') {
      cids.shapes.push(o.cid);
      const s = { id: o.id, type: o.type, frame: o.frame, label_id: o.label_id, group: o.group || 0,
        source: o.source, occluded: o.occluded, outside: o.outside, z_order: o.z_order,
        rotation: normDeg(o.rotation || 0), points: o.points.slice(), attributes: attrList(o.attributes),
        elements: o.elements || [] };
      if (o.score != null) s.score = o.score;
      shapes.push(s);
    }
    for (const o of objs) if (o.kind === 'track') {
      if (!o.shapes.length) continue;
      cids.tracks.push(o.cid);
      tracks.push({ id: o.id, frame: o.shapes[0].frame, label_id: o.label_id, group: o.group || 0,
        source: o.source, attributes: attrList(o.attributes), elements: o.elements || [],
        shapes: o.shapes.map((k) => ({ id: k.id, type: k.type, frame: k.frame, keyframe: true,
          outside: k.outside, occluded: k.occluded, z_order: k.z_order,
          rotation: normDeg(k.rotation || 0), points: k.points.slice(), attributes: attrList(k.attributes) })) });
    }
    return { data: { version: this.version, tags, shapes, tracks }, cids };
  }

  get(cid) { return this.objects.get(cid); }

  // Replaces an object's whole state (null removes it). Used by history.
  put(cid, state) {
    if (state == null) this.objects.delete(cid);
    else this.objects.set(cid, clone(state));
    this._cache = null;
  }

  newCid() { return ++this.seq; }

  defaultsFor(labelId, { mutable } = {}) {
    const out = {};
    for (const s of this.specs(labelId)) {
      if (mutable === undefined || !!s.mutable === mutable) out[s.id] = defaultValue(s);
    }
    return out;
  }

  // Creates an object (not recorded: callers wrap it in a history transaction).
  create({ kind, frame, label_id, type, points = [], rotation = 0, track = false, attributes = null,
    occluded = false, z_order = null }) {
    const cid = this.newCid();
    if (z_order == null) z_order = this.maxZ(frame) + 1;
    let obj;
    if (kind === 'tag') {
      obj = { cid, kind: 'tag', id: null, frame, label_id, group: 0, source: 'manual',
        attributes: attributes ? clone(attributes) : this.defaultsFor(label_id), hidden: false, locked: false };
    } else if (track) {
      const all = attributes ? clone(attributes) : this.defaultsFor(label_id);
      const imm = {}, mut = {};
      for (const s of this.specs(label_id)) {
        if (!(s.id in all)) continue;
        (s.mutable ? mut : imm)[s.id] = all[s.id];
      }
      obj = { cid, kind: 'track', id: null, frame, label_id, group: 0, source: 'manual', attributes: imm,
        hidden: false, locked: false, type,
        shapes: [{ id: null, frame, type, points: points.slice(), rotation, occluded, outside: false, z_order,
          attributes: mut }] };
    } else {
      obj = { cid, kind: 'shape', id: null, frame, label_id, group: 0, source: 'manual',
        attributes: attributes ? clone(attributes) : this.defaultsFor(label_id), hidden: false, locked: false,
        type, points: points.slice(), rotation, occluded, outside: false, z_order };
    }
    obj.order = cid;
    this.objects.set(cid, obj);
    this._cache = null;
    return obj;
  }

  maxZ(frame) {
    let z = 0;
    for (const it of this.frameItems(frame)) if (it.g && it.g.z_order > z) z = it.g.z_order;
    return z;
  }

  // Where a track is on `frame`: {g, keyframe, outside} or null when it has not started.
  trackAt(o, frame) {
    const ks = o.shapes;
    let prev = null, next = null;
    for (const k of ks) {
      if (k.frame <= frame) prev = k;
      else { next = k; break; }
    }
    if (!prev) return null;
    if (prev.frame === frame) return { g: prev, keyframe: true, outside: prev.outside };
    if (prev.outside) return { g: prev, keyframe: false, outside: true };
    let g = null;
    if (next && !next.outside) {
      const l = lerpGeometry(prev, next, (frame - prev.frame) / (next.frame - prev.frame));
      if (l) g = { ...prev, id: null, frame, points: l.points, rotation: l.rotation, attributes: prev.attributes };
    }
    if (!g) g = { ...prev, id: null, frame, points: prev.points.slice(), attributes: prev.attributes };
    return { g, keyframe: false, outside: false };
  }

  // Attribute values of an object as seen on `frame` (track: immutable + mutable of the keyframe).
  attributesAt(o, frame) {
    if (o.kind !== 'track') return o.attributes;
    const at = this.trackAt(o, frame);
    return { ...o.attributes, ...(at ? at.g.attributes : {}) };
  }

  // Objects present on a frame: [{obj, g, keyframe, outside}], drawables sorted by z_order.
  frameItems(frame) {
    // Cached per frame until the next change (this._cache = null drops every frame's list).
    if (!this._cache || this._cache.rev !== this.rev) this._cache = { rev: this.rev, frames: new Map() };
    const hit = this._cache.frames.get(frame);
    if (hit) return hit;
    const items = [];
    for (const o of this.objects.values()) {
      if (o.kind === 'track') {
        const at = this.trackAt(o, frame);
        if (at) items.push({ obj: o, g: at.g, keyframe: at.keyframe, outside: at.outside });
      } else if (o.frame === frame) {
        items.push({ obj: o, g: o.kind === 'tag' ? null : o, keyframe: false, outside: o.kind === 'shape' && o.outside });
      }
    }
    items.sort((a, b) => (a.g ? a.g.z_order : -1e9) - (b.g ? b.g.z_order : -1e9) || a.obj.order - b.obj.order);
    if (this._cache.frames.size > 8) this._cache.frames.clear();
    this._cache.frames.set(frame, items);
    return items;
  }

  // The geometry to edit for an object on a frame; for a track it makes (and returns) a keyframe.
  editable(o, frame) {
    if (o.kind === 'shape') return o;
    if (o.kind !== 'track') return null;
    const at = this.trackAt(o, frame);
    if (!at) return null;
    if (at.keyframe) return at.g;
    const k = { ...clone(at.g), id: null, frame };
    o.shapes.push(k);
    o.shapes.sort((a, b) => a.frame - b.frame);
    o.frame = o.shapes[0].frame;
    this._cache = null;
    return k;
  }
}
