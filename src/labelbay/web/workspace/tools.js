// Drawing and editing tools: pointer interaction on the stage, handles, copy/paste and the
// object actions shared by the sidebar and the keyboard.
import { hit, rectCorners, ellipseParams, rotateAround, normDeg, DEG, centre } from './geom.js';
import { DRAWABLE } from './model.js';

const HANDLE_PX = 7;
const MIN_POINTS = { polygon: 3, polyline: 2, points: 1 };

export const TOOLS = ['select', 'rectangle', 'polygon', 'polyline', 'points', 'ellipse', 'tag'];

export class Tools {
  constructor(ws) {
    this.ws = ws;
    this.tool = 'select';
    this.lastTool = 'rectangle';
    this.drawing = null; // polygon/polyline/points in progress: {type, pts: [], cursor}
    this.box = null; // rectangle/ellipse drag preview
    this.drag = null;
    this.clipboard = null;
    this.lastAdd = null;
    const st = ws.view.stage;
    st.addEventListener('pointerdown', (e) => this.down(e));
    st.addEventListener('pointermove', (e) => this.move(e));
    st.addEventListener('pointerup', (e) => this.up(e));
    st.addEventListener('pointercancel', (e) => this.up(e, true));
    st.addEventListener('dblclick', (e) => this.dblclick(e));
    st.addEventListener('contextmenu', (e) => e.preventDefault());
  }

  get view() { return this.ws.view; }
  get model() { return this.ws.model; }
  get history() { return this.ws.history; }

  setTool(tool) {
    this.cancelDrawing();
    if (tool === 'tag') {
      this.lastTool = 'tag';
      this.addTag();
      tool = 'select';
    }
    this.tool = tool;
    if (tool !== 'select') {
      this.lastTool = tool;
      this.ws.select(null);
    }
    this.view.stage.dataset.tool = tool;
    this.ws.toolChanged();
    this.view.invalidate();
  }

  drawAgain() {
    if (this.drawing) return this.finish();
    this.setTool(this.lastTool);
  }

  cancelDrawing() {
    const had = !!(this.drawing || this.box);
    this.drawing = null;
    this.box = null;
    this.view.invalidate();
    return had;
  }

  // Esc: cancel a drawing, else leave the drawing tool, else deselect.
  escape() {
    if (this.drag) return;
    if (this.cancelDrawing()) return;
    if (this.tool !== 'select') return this.setTool('select');
    this.ws.select(null);
  }

  // ---- geometry helpers -------------------------------------------------------------------

  item(cid) {
    return this.model.frameItems(this.ws.frame).find((it) => it.obj.cid === cid) || null;
  }

  selectedItem() {
    const cid = this.ws.selected;
    if (cid == null) return null;
    const it = this.item(cid);
    return it && it.g && !it.outside && !it.obj.hidden ? it : null;
  }

  handles() {
    const it = this.selectedItem();
    if (!it || it.obj.locked || !DRAWABLE.has(it.g.type)) return [];
    const g = it.g, p = g.points, z = this.view.zoom;
    const out = [];
    if (g.type === 'rectangle') {
      rectCorners(p, g.rotation).forEach(([x, y], i) => out.push({ kind: 'corner', index: i, x, y }));
      const [cx, cy] = centre(g);
      const h = Math.abs(p[3] - p[1]) / 2;
      const [tx, ty] = rotateAround(cx, cy - h, cx, cy, (g.rotation || 0) * DEG);
      const [rx, ry] = rotateAround(cx, cy - h - 28 / z, cx, cy, (g.rotation || 0) * DEG);
      out.push({ kind: 'rotate', x: rx, y: ry, from: [tx, ty] });
    } else if (g.type === 'ellipse') {
      const { cx, cy, rx, ry } = ellipseParams(p);
      const r = (g.rotation || 0) * DEG;
      [[rx, 0], [0, -ry], [-rx, 0], [0, ry]].forEach(([dx, dy], i) => {
        const [x, y] = rotateAround(cx + dx, cy + dy, cx, cy, r);
        out.push({ kind: 'axis', index: i, x, y });
      });
      const [tx, ty] = rotateAround(cx, cy - ry, cx, cy, r);
      const [hx, hy] = rotateAround(cx, cy - ry - 28 / z, cx, cy, r);
      out.push({ kind: 'rotate', x: hx, y: hy, from: [tx, ty] });
    } else {
      const n = p.length / 2;
      if (g.type !== 'points') {
        const edges = g.type === 'polygon' ? n : n - 1;
        for (let i = 0; i < edges; i++) {
          const j = (i + 1) % n;
          out.push({ kind: 'mid', index: i, x: (p[2 * i] + p[2 * j]) / 2, y: (p[2 * i + 1] + p[2 * j + 1]) / 2 });
        }
      }
      for (let i = 0; i < n; i++) out.push({ kind: 'vertex', index: i, x: p[2 * i], y: p[2 * i + 1] });
    }
    return out;
  }

  handleAt(sx, sy) {
    const hs = this.handles();
    let best = null, bd = HANDLE_PX * HANDLE_PX;
    // Vertices and corners win over midpoints when they overlap.
    for (const h of hs) {
      const [hx, hy] = this.view.toScreen(h.x, h.y);
      const d = (hx - sx) ** 2 + (hy - sy) ** 2;
      if (d <= bd || (best && best.kind === 'mid' && h.kind !== 'mid' && d <= HANDLE_PX * HANDLE_PX)) {
        best = h;
        bd = d;
      }
    }
    return best;
  }

  objectAt(ix, iy) {
    const items = this.model.frameItems(this.ws.frame);
    const tol = 4 / this.view.zoom;
    const sel = this.ws.selected;
    // Selected object first (it is drawn on top), then from the highest z_order down.
    if (sel != null) {
      const it = items.find((i) => i.obj.cid === sel);
      if (it && it.g && !it.outside && !it.obj.hidden && DRAWABLE.has(it.g.type) && hit(it.g, ix, iy, tol)) return it;
    }
    for (let i = items.length - 1; i >= 0; i--) {
      const it = items[i];
      if (!it.g || it.outside || it.obj.hidden || !DRAWABLE.has(it.g.type)) continue;
      if (hit(it.g, ix, iy, tol)) return it;
    }
    return null;
  }

  // ---- pointer --------------------------------------------------------------------------

  down(e) {
    if (this.drag) return;
    const [sx, sy] = this.view.screenOf(e);
    const [ix, iy] = this.view.toImage(sx, sy);
    const capture = () => { try { this.view.stage.setPointerCapture(e.pointerId); } catch { /* ignore */ } };
    if (e.button === 1) {
      e.preventDefault();
      capture();
      this.drag = { kind: 'pan', sx, sy };
      return;
    }
    if (e.button !== 0) return;
    capture();
    const t = this.tool;
    if (t === 'rectangle' || t === 'ellipse') {
      this.box = { type: t, x0: ix, y0: iy, x1: ix, y1: iy, sx, sy };
      this.drag = { kind: 'box' };
      return;
    }
    if (t === 'polygon' || t === 'polyline' || t === 'points') {
      this.drag = { kind: 'click', sx, sy, ix, iy, moved: false };
      return;
    }
    // select tool
    const h = this.handleAt(sx, sy);
    const selIt = this.selectedItem();
    if (h && selIt && !selIt.obj.locked) {
      if (h.kind === 'vertex' && e.altKey) {
        this.removeVertex(selIt.obj, h.index);
        return;
      }
      this.drag = { kind: h.kind, handle: h, cid: selIt.obj.cid, sx, sy, ix, iy, tx: null, moved: false };
      if (h.kind === 'mid') this.startEdit(this.drag);
      return;
    }
    const it = this.objectAt(ix, iy);
    if (it) {
      this.ws.select(it.obj.cid);
      // A press on a vertex/corner of a shape that was not selected yet edits that vertex at once.
      const h2 = it.obj.locked ? null : this.handleAt(sx, sy);
      if (h2 && (h2.kind === 'vertex' || h2.kind === 'corner' || h2.kind === 'axis')) {
        if (h2.kind === 'vertex' && e.altKey) {
          this.removeVertex(it.obj, h2.index);
          return;
        }
        this.drag = { kind: h2.kind, handle: h2, cid: it.obj.cid, sx, sy, ix, iy, tx: null, moved: false };
        return;
      }
      if (!it.obj.locked) this.drag = { kind: 'move', cid: it.obj.cid, sx, sy, ix, iy, tx: null, moved: false };
      else this.drag = { kind: 'pan', sx, sy };
      return;
    }
    this.ws.select(null);
    this.drag = { kind: 'pan', sx, sy, moved: false };
  }

  // Starts the undoable edit of a drag (lazily, on the first movement, so clicks change nothing).
  startEdit(d) {
    const obj = this.model.get(d.cid);
    d.tx = this.history.begin([d.cid], d.kind);
    d.g = this.model.editable(obj, this.ws.frame);
    if (!d.g) {
      d.tx.cancel();
      d.tx = null;
      return false;
    }
    d.start = { points: d.g.points.slice(), rotation: d.g.rotation || 0 };
    if (d.kind === 'mid') {
      const i = d.handle.index;
      d.g.points.splice(2 * i + 2, 0, d.handle.x, d.handle.y);
      d.vertex = i + 1;
    }
    if (d.kind === 'vertex') d.vertex = d.handle.index;
    if (d.kind === 'corner') {
      const c = rectCorners(d.start.points, d.start.rotation);
      d.opposite = c[(d.handle.index + 2) % 4];
    }
    this.ws.live = d.cid;
    this.model._cache = null;
    return true;
  }

  move(e) {
    const [sx, sy] = this.view.screenOf(e);
    const [ix, iy] = this.view.toImage(sx, sy);
    this.pointer = [ix, iy];
    const d = this.drag;
    if (!d) {
      if (this.drawing) {
        this.drawing.cursor = [ix, iy];
        this.view.invalidate();
      } else if (this.tool === 'select' && e.pointerType !== 'touch') {
        this.hover(sx, sy, ix, iy);
      }
      return;
    }
    if (d.kind === 'pan') {
      this.view.panBy(sx - d.sx, sy - d.sy);
      d.sx = sx;
      d.sy = sy;
      d.moved = true;
      return;
    }
    if (d.kind === 'box') {
      this.box.x1 = ix;
      this.box.y1 = iy;
      this.view.invalidate();
      return;
    }
    if (d.kind === 'click') {
      if (Math.hypot(sx - d.sx, sy - d.sy) > 4) {
        // Dragging while drawing a polygon pans the view.
        this.drag = { kind: 'pan', sx, sy, moved: true };
      }
      if (this.drawing) this.drawing.cursor = [ix, iy];
      this.view.invalidate();
      return;
    }
    if (!d.moved) {
      if (Math.hypot(sx - d.sx, sy - d.sy) < 2) return;
      d.moved = true;
      if (!d.tx && !this.startEdit(d)) {
        this.drag = null;
        return;
      }
    }
    this.applyDrag(d, ix, iy, e);
    this.view.invalidate();
  }

  applyDrag(d, ix, iy, e) {
    const g = d.g, sp = d.start.points;
    switch (d.kind) {
      case 'move': {
        const dx = ix - d.ix, dy = iy - d.iy;
        for (let i = 0; i < sp.length; i += 2) {
          g.points[i] = sp[i] + dx;
          g.points[i + 1] = sp[i + 1] + dy;
        }
        break;
      }
      case 'vertex':
      case 'mid':
        g.points[2 * d.vertex] = ix;
        g.points[2 * d.vertex + 1] = iy;
        break;
      case 'corner': {
        const [ox, oy] = d.opposite;
        const rot = d.start.rotation;
        if (!rot) {
          g.points.splice(0, 4, Math.min(ox, ix), Math.min(oy, iy), Math.max(ox, ix), Math.max(oy, iy));
        } else {
          const cx = (ox + ix) / 2, cy = (oy + iy) / 2;
          const [lx, ly] = rotateAround(ix, iy, ox, oy, -rot * DEG);
          const w = Math.abs(lx - ox), h = Math.abs(ly - oy);
          g.points.splice(0, 4, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2);
        }
        break;
      }
      case 'axis': {
        const { cx, cy, rx, ry } = ellipseParams(sp);
        const [lx, ly] = rotateAround(ix, iy, cx, cy, -d.start.rotation * DEG);
        const horizontal = d.handle.index % 2 === 0;
        const nrx = horizontal ? Math.abs(lx - cx) : rx;
        const nry = horizontal ? ry : Math.abs(ly - cy);
        g.points.splice(0, 4, cx, cy, cx + nrx, cy - nry);
        break;
      }
      case 'rotate': {
        const [cx, cy] = centre({ type: g.type, points: sp });
        let a = Math.atan2(ix - cx, -(iy - cy)) / DEG;
        if (e.shiftKey) a = Math.round(a / 15) * 15;
        g.rotation = normDeg(a);
        break;
      }
      default:
        break;
    }
  }

  up(e, cancelled = false) {
    const d = this.drag;
    if (!d) return;
    this.drag = null;
    try { this.view.stage.releasePointerCapture(e.pointerId); } catch { /* ignore */ }
    const [sx, sy] = this.view.screenOf(e);
    const [ix, iy] = this.view.toImage(sx, sy);
    if (d.kind === 'pan') return;
    if (d.kind === 'box') {
      const b = this.box;
      this.box = null;
      if (!cancelled) {
        b.x1 = ix;
        b.y1 = iy;
        this.finishBox(b, sx, sy);
      }
      this.view.invalidate();
      return;
    }
    if (d.kind === 'click') {
      if (!cancelled) this.addPoint(ix, iy, sx, sy);
      return;
    }
    if (d.tx) {
      this.ws.live = null;
      if (cancelled) d.tx.cancel();
      else d.tx.commit();
    }
    this.view.invalidate();
  }

  hover(sx, sy, ix, iy) {
    let cursor = 'default';
    const sel = this.selectedItem();
    if (sel && !sel.obj.locked && this.handleAt(sx, sy)) cursor = 'crosshair';
    else {
      const it = this.objectAt(ix, iy);
      if (it) cursor = it.obj.locked ? 'pointer' : 'move';
    }
    this.view.stage.style.cursor = cursor;
  }

  dblclick(e) {
    if (this.drawing) {
      e.preventDefault();
      this.finish();
    }
  }

  // ---- drawing ------------------------------------------------------------------------------

  finishBox(b, sx, sy) {
    if (Math.abs(sx - b.sx) < 2 || Math.abs(sy - b.sy) < 2) return; // a click, not a drag
    let points;
    if (b.type === 'rectangle') {
      points = [Math.min(b.x0, b.x1), Math.min(b.y0, b.y1), Math.max(b.x0, b.x1), Math.max(b.y0, b.y1)];
    } else {
      points = [b.x0, b.y0, b.x0 + Math.abs(b.x1 - b.x0), b.y0 - Math.abs(b.y1 - b.y0)];
    }
    this.createObject(b.type, points);
  }

  addPoint(ix, iy, sx, sy) {
    const now = performance.now();
    if (!this.drawing) this.drawing = { type: this.tool, pts: [], cursor: [ix, iy] };
    const pts = this.drawing.pts;
    // A click on the first point closes a polygon.
    if (this.drawing.type === 'polygon' && pts.length >= 6) {
      const [fx, fy] = this.view.toScreen(pts[0], pts[1]);
      if (Math.hypot(fx - sx, fy - sy) <= HANDLE_PX) {
        this.finish();
        return;
      }
    }
    const la = this.lastAdd;
    // The second click of a double-click adds nothing (the double-click finishes).
    if (la && now - la.t < 500 && Math.hypot(sx - la.sx, sy - la.sy) < 4) return;
    this.drawing.pts.push(ix, iy);
    this.lastAdd = { t: now, sx, sy };
    this.view.invalidate();
  }

  finish() {
    const d = this.drawing;
    if (!d) return false;
    const n = d.pts.length / 2;
    if (n < MIN_POINTS[d.type]) return false;
    this.drawing = null;
    this.lastAdd = null;
    this.createObject(d.type, d.pts);
    return true;
  }

  createObject(type, points, extra = {}) {
    const ws = this.ws;
    if (ws.labelId == null) {
      ws.notify('Create a label first: this task has no labels.');
      return null;
    }
    const tx = this.history.begin([], 'create');
    const obj = this.model.create({ kind: 'shape', frame: ws.frame, label_id: ws.labelId, type, points,
      track: ws.trackMode, ...extra });
    tx.add(obj.cid, null);
    tx.commit();
    this.lastTool = type;
    this.tool = 'select';
    this.view.stage.dataset.tool = 'select';
    ws.select(obj.cid);
    ws.toolChanged();
    return obj;
  }

  addTag() {
    const ws = this.ws;
    if (ws.labelId == null) return ws.notify('Create a label first: this task has no labels.');
    const tx = this.history.begin([], 'tag');
    const obj = this.model.create({ kind: 'tag', frame: ws.frame, label_id: ws.labelId });
    tx.add(obj.cid, null);
    tx.commit();
    ws.select(obj.cid);
  }

  // Preview of the shape being drawn (image coordinates, transform already set).
  overlay(c, z) {
    const color = this.ws.labelColor(this.ws.labelId);
    c.strokeStyle = color;
    c.fillStyle = color;
    c.lineWidth = 1.5 / z;
    if (this.box) {
      const b = this.box;
      const path = new Path2D();
      if (b.type === 'rectangle') {
        path.rect(Math.min(b.x0, b.x1), Math.min(b.y0, b.y1), Math.abs(b.x1 - b.x0), Math.abs(b.y1 - b.y0));
      } else {
        path.ellipse(b.x0, b.y0, Math.abs(b.x1 - b.x0), Math.abs(b.y1 - b.y0), 0, 0, Math.PI * 2);
      }
      c.setLineDash([6 / z, 4 / z]);
      c.stroke(path);
      c.setLineDash([]);
    }
    const d = this.drawing;
    if (d) {
      const p = d.pts;
      const path = new Path2D();
      if (d.type !== 'points' && p.length) {
        path.moveTo(p[0], p[1]);
        for (let i = 2; i < p.length; i += 2) path.lineTo(p[i], p[i + 1]);
        if (d.cursor) path.lineTo(d.cursor[0], d.cursor[1]);
        if (d.type === 'polygon' && p.length >= 4) path.closePath();
        c.stroke(path);
      }
      const dots = new Path2D();
      const r = 3.5 / z;
      for (let i = 0; i < p.length; i += 2) {
        dots.moveTo(p[i] + r, p[i + 1]);
        dots.arc(p[i], p[i + 1], r, 0, Math.PI * 2);
      }
      c.fill(dots);
    }
  }

  // ---- object actions (sidebar, keyboard) ----------------------------------------------------

  editAt(cid, fn, name) {
    const obj = this.model.get(cid);
    if (!obj || obj.locked) return;
    const tx = this.history.begin([cid], name);
    const g = this.model.editable(obj, this.ws.frame);
    fn(obj, g);
    tx.commit();
  }

  removeVertex(obj, index) {
    this.editAt(obj.cid, (o, g) => {
      if (!g || g.points.length / 2 <= MIN_POINTS[g.type]) return;
      g.points.splice(2 * index, 2);
    }, 'remove vertex');
  }

  deleteObject(cid = this.ws.selected) {
    if (cid == null) return;
    const obj = this.model.get(cid);
    if (!obj || obj.locked) return;
    const tx = this.history.begin([cid], 'delete');
    this.model.put(cid, null);
    if (this.ws.selected === cid) this.ws.selected = null;
    tx.commit();
  }

  toggleHidden(cid = this.ws.selected) {
    if (cid == null || !this.model.get(cid)) return;
    this.history.run([cid], () => { const o = this.model.get(cid); o.hidden = !o.hidden; }, 'hide');
  }

  toggleLocked(cid = this.ws.selected) {
    if (cid == null || !this.model.get(cid)) return;
    this.history.run([cid], () => { const o = this.model.get(cid); o.locked = !o.locked; }, 'lock');
  }

  toggleOccluded(cid) {
    this.editAt(cid, (o, g) => { if (g) g.occluded = !g.occluded; }, 'occluded');
  }

  zOrder(cid, delta) {
    this.editAt(cid, (o, g) => { if (g) g.z_order = (g.z_order | 0) + delta; }, 'z-order');
  }

  toggleOutside(cid) {
    this.editAt(cid, (o, g) => { if (g && o.kind === 'track') g.outside = !g.outside; }, 'outside');
  }

  toggleKeyframe(cid) {
    const obj = this.model.get(cid);
    if (!obj || obj.kind !== 'track' || obj.locked) return;
    const frame = this.ws.frame;
    const at = this.model.trackAt(obj, frame);
    if (!at) return;
    this.history.run([cid], () => {
      if (at.keyframe) {
        if (obj.shapes.length <= 1) return;
        obj.shapes = obj.shapes.filter((k) => k.frame !== frame);
        obj.frame = obj.shapes[0].frame;
      } else {
        this.model.editable(obj, frame);
      }
      this.model._cache = null;
    }, 'keyframe');
  }

  setLabel(cid, labelId) {
    const obj = this.model.get(cid);
    if (!obj || obj.locked || obj.label_id === labelId) return;
    this.history.run([cid], () => {
      obj.label_id = labelId;
      if (obj.kind === 'track') {
        obj.attributes = this.model.defaultsFor(labelId, { mutable: false });
        const mut = this.model.defaultsFor(labelId, { mutable: true });
        for (const k of obj.shapes) k.attributes = { ...mut };
      } else {
        obj.attributes = this.model.defaultsFor(labelId);
      }
      this.model._cache = null;
    }, 'label');
  }

  setAttribute(cid, spec, value) {
    const obj = this.model.get(cid);
    if (!obj || obj.locked) return;
    value = String(value);
    if (obj.kind === 'track' && spec.mutable) {
      this.editAt(cid, (o, g) => { if (g) g.attributes = { ...g.attributes, [spec.id]: value }; }, 'attribute');
    } else {
      this.history.run([cid], () => { obj.attributes = { ...obj.attributes, [spec.id]: value }; }, 'attribute');
    }
  }

  copy() {
    const it = this.ws.selected != null ? this.item(this.ws.selected) : null;
    if (!it) return false;
    const o = it.obj;
    this.clipboard = {
      kind: o.kind === 'tag' ? 'tag' : 'shape',
      label_id: o.label_id,
      attributes: structuredClone(this.model.attributesAt(o, this.ws.frame)),
      type: it.g?.type,
      points: it.g ? it.g.points.slice() : [],
      rotation: it.g?.rotation || 0,
      occluded: !!it.g?.occluded,
    };
    return true;
  }

  paste() {
    const c = this.clipboard;
    if (!c) return false;
    const ws = this.ws;
    const tx = this.history.begin([], 'paste');
    const obj = c.kind === 'tag'
      ? this.model.create({ kind: 'tag', frame: ws.frame, label_id: c.label_id, attributes: c.attributes })
      : this.model.create({ kind: 'shape', frame: ws.frame, label_id: c.label_id, type: c.type, points: c.points,
        rotation: c.rotation, occluded: c.occluded, attributes: c.attributes, track: ws.trackMode });
    tx.add(obj.cid, null);
    tx.commit();
    ws.select(obj.cid);
    return true;
  }
}

