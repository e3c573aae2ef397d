// Viewport: image canvas, shapes canvas (batched paths per label colour), SVG handles overlay.
import { rectCorners, ellipseParams, DEG } from './geom.js';

const SVGNS = 'http://www.w3.org/2000/svg';

function el(tag, attrs = {}) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

// Adds a geometry to a Path2D in image coordinates.
export function tracePath(path, g) {
  const p = g.points;
  switch (g.type) {
    case 'rectangle': {
      if (!g.rotation) {
        path.rect(Math.min(p[0], p[2]), Math.min(p[1], p[3]), Math.abs(p[2] - p[0]), Math.abs(p[3] - p[1]));
      } else {
        const c = rectCorners(p, g.rotation);
        path.moveTo(c[0][0], c[0][1]);
        for (let i = 1; i < 4; i++) path.lineTo(c[i][0], c[i][1]);
        path.closePath();
      }
      break;
    }
    case 'ellipse': {
      const { cx, cy, rx, ry } = ellipseParams(p);
      const r = (g.rotation || 0) * DEG;
      path.moveTo(cx + rx * Math.cos(r), cy + rx * Math.sin(r));
      path.ellipse(cx, cy, rx, ry, r, 0, Math.PI * 2);
      path.closePath();
      break;
    }
    case 'polygon':
    case 'polyline': {
      if (p.length < 2) break;
      path.moveTo(p[0], p[1]);
      for (let i = 2; i < p.length; i += 2) path.lineTo(p[i], p[i + 1]);
      if (g.type === 'polygon') path.closePath();
      break;
    }
    default:
      break;
  }
}

// The same geometry as an SVG path string (for batches: one Path2D parse per batch).
function n(v) {
  return Math.round(v * 100) / 100;
}

export function svgPath(g) {
  const p = g.points;
  switch (g.type) {
    case 'rectangle': {
      const c = g.rotation ? rectCorners(p, g.rotation) : [[p[0], p[1]], [p[2], p[1]], [p[2], p[3]], [p[0], p[3]]];
      return `M${n(c[0][0])} ${n(c[0][1])}L${n(c[1][0])} ${n(c[1][1])}L${n(c[2][0])} ${n(c[2][1])}L${n(c[3][0])} ${n(c[3][1])}Z`;
    }
    case 'ellipse': {
      const { cx, cy, rx, ry } = ellipseParams(p);
      if (!rx || !ry) return '';
      const r = (g.rotation || 0) * DEG, deg = n(g.rotation || 0);
      const dx = rx * Math.cos(r), dy = rx * Math.sin(r);
      return `M${n(cx + dx)} ${n(cy + dy)}A${n(rx)} ${n(ry)} ${deg} 1 1 ${n(cx - dx)} ${n(cy - dy)}` +
        `A${n(rx)} ${n(ry)} ${deg} 1 1 ${n(cx + dx)} ${n(cy + dy)}Z`;
    }
    case 'polygon':
    case 'polyline': {
      if (p.length < 4) return '';
      let s = `M${n(p[0])} ${n(p[1])}`;
      for (let i = 2; i < p.length; i += 2) s += `L${n(p[i])} ${n(p[i + 1])}`;
      return g.type === 'polygon' ? s + 'Z' : s;
    }
    default:
      return '';
  }
}

export class Viewport {
  constructor(root, host) {
    this.root = root; // workspace root (data-zoom etc.)
    this.host = host; // callbacks: items(), colorOf(obj), liveCid(), selectedCid(), handles(), overlay(ctx)
    this.stage = el('div', { class: 'ws-stage' });
    this.imageCanvas = el('canvas', { class: 'ws-image', 'data-testid': 'frame-canvas', 'data-frame': '',
      'aria-label': 'Image view', role: 'img' });
    this.shapeCanvas = el('canvas', { class: 'ws-shapes', 'aria-hidden': 'true' });
    this.svg = document.createElementNS(SVGNS, 'svg');
    this.svg.setAttribute('class', 'ws-handles');
    this.svg.setAttribute('aria-hidden', 'true');
    this.stage.append(this.imageCanvas, this.shapeCanvas, this.svg);
    this.ictx = this.imageCanvas.getContext('2d');
    this.sctx = this.shapeCanvas.getContext('2d');
    this.zoom = 1;
    this.offX = 0;
    this.offY = 0;
    this.width = 0; // CSS size of the stage
    this.height = 0;
    this.dpr = window.devicePixelRatio || 1;
    this.image = null;
    this.imgW = 0;
    this.imgH = 0;
    this.brightness = 100;
    this.contrast = 100;
    this.imageDirty = true;
    this.raf = 0;
    this.layers = new Map();
    this.fitted = false;
    this.frameTimes = [];
    this.ro = new ResizeObserver(() => this.resize());
    this.ro.observe(this.stage);
    this.stage.addEventListener('wheel', (e) => this.onWheel(e), { passive: false });
  }

  destroy() {
    this.ro.disconnect();
    cancelAnimationFrame(this.raf);
  }

  resize() {
    const r = this.stage.getBoundingClientRect();
    const w = Math.max(1, Math.round(r.width)), h = Math.max(1, Math.round(r.height));
    this.dpr = window.devicePixelRatio || 1;
    if (w === this.width && h === this.height) return;
    this.width = w;
    this.height = h;
    for (const c of [this.imageCanvas, this.shapeCanvas]) {
      c.width = Math.round(w * this.dpr);
      c.height = Math.round(h * this.dpr);
      c.style.width = `${w}px`;
      c.style.height = `${h}px`;
    }
    this.svg.setAttribute('width', w);
    this.svg.setAttribute('height', h);
    if (!this.fitted && this.imgW) this.fit();
    this.imageDirty = true;
    this.invalidate();
  }

  setFrameSize(w, h) {
    const first = !this.imgW;
    this.imgW = w;
    this.imgH = h;
    if (first) this.fit();
  }

  setImage(bitmap, frame) {
    this.image = bitmap;
    if (bitmap && (!this.imgW || !this.imgH)) this.setFrameSize(bitmap.width, bitmap.height);
    this.imageCanvas.dataset.frame = String(frame);
    this.imageCanvas.dataset.loaded = bitmap ? 'true' : 'false';
    this.imageDirty = true;
    this.invalidate();
  }

  setFilters(brightness, contrast) {
    this.brightness = brightness;
    this.contrast = contrast;
    this.imageDirty = true;
    this.invalidate();
  }

  publish() {
    const r = this.root.dataset;
    r.zoom = String(this.zoom);
    r.offsetX = String(this.offX);
    r.offsetY = String(this.offY);
  }

  setTransform(zoom, offX, offY) {
    this.zoom = Math.min(64, Math.max(0.02, zoom));
    this.offX = offX;
    this.offY = offY;
    this.publish();
    this.imageDirty = true;
    this.invalidate();
  }

  fit() {
    if (!this.width || !this.imgW) return;
    this.fitted = true;
    const z = Math.min(this.width / this.imgW, this.height / this.imgH) * 0.96;
    this.setTransform(z, (this.width - this.imgW * z) / 2, (this.height - this.imgH * z) / 2);
  }

  zoomAt(factor, sx, sy) {
    const z = Math.min(64, Math.max(0.02, this.zoom * factor));
    const ix = (sx - this.offX) / this.zoom, iy = (sy - this.offY) / this.zoom;
    this.setTransform(z, sx - ix * z, sy - iy * z);
  }

  zoomBy(factor) {
    this.zoomAt(factor, this.width / 2, this.height / 2);
  }

  panBy(dx, dy) {
    this.setTransform(this.zoom, this.offX + dx, this.offY + dy);
  }

  onWheel(e) {
    e.preventDefault();
    const [sx, sy] = this.screenOf(e);
    const dy = e.deltaMode === 1 ? e.deltaY * 33 : e.deltaY;
    this.zoomAt(Math.exp(-dy * 0.0015), sx, sy);
  }

  // Pointer position relative to the frame canvas's top-left, in CSS pixels.
  screenOf(e) {
    const r = this.imageCanvas.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  }

  toImage(sx, sy) {
    return [(sx - this.offX) / this.zoom, (sy - this.offY) / this.zoom];
  }

  toScreen(x, y) {
    return [x * this.zoom + this.offX, y * this.zoom + this.offY];
  }

  invalidate() {
    if (this.raf) return;
    this.raf = requestAnimationFrame(() => {
      this.raf = 0;
      this.render();
    });
  }

  drawImage() {
    const c = this.ictx, d = this.dpr;
    c.setTransform(1, 0, 0, 1, 0, 0);
    c.clearRect(0, 0, this.imageCanvas.width, this.imageCanvas.height);
    c.setTransform(d * this.zoom, 0, 0, d * this.zoom, d * this.offX, d * this.offY);
    if (this.image && this.image.width === 0) this.image = null; // closed (evicted) bitmap
    if (this.image) {
      c.filter = this.brightness !== 100 || this.contrast !== 100
        ? `brightness(${this.brightness}%) contrast(${this.contrast}%)` : 'none';
      c.imageSmoothingEnabled = this.zoom < 4;
      c.drawImage(this.image, 0, 0, this.imgW || this.image.width, this.imgH || this.image.height);
      c.filter = 'none';
    } else if (this.imgW) {
      c.fillStyle = '#3a3f47';
      c.fillRect(0, 0, this.imgW, this.imgH);
    }
    this.imageDirty = false;
  }

  // Batches per colour for all items except the live one, built as SVG path strings (one
  // parse per batch is far cheaper than thousands of Path2D calls); rebuilt when items change.
  buildBatches(items, live) {
    const groups = new Map();
    const points = [];
    let vertices = 0;
    for (const it of items) {
      const o = it.obj;
      if (!it.g || it.outside || o.hidden || o.cid === live) continue;
      const g = it.g;
      if (g.type === 'points') {
        points.push(it);
        continue;
      }
      const d = svgPath(g);
      if (!d) continue;
      vertices += g.points.length >> 1;
      const color = this.host.colorOf(o);
      let b = groups.get(color);
      if (!b) {
        b = { color, closed: [], closedOcc: [], open: [], openOcc: [] };
        groups.set(color, b);
      }
      const open = g.type === 'polyline';
      (open ? (g.occluded ? b.openOcc : b.open) : (g.occluded ? b.closedOcc : b.closed)).push(d);
    }
    const out = [];
    for (const b of groups.values()) {
      const closed = b.closed.join(''), closedOcc = b.closedOcc.join('');
      const open = b.open.join(''), openOcc = b.openOcc.join('');
      out.push({
        color: b.color,
        fill: closed || closedOcc ? new Path2D(closed + closedOcc) : null,
        solid: closed || open ? new Path2D(closed + open) : null,
        dashed: closedOcc || openOcc ? new Path2D(closedOcc + openOcc) : null,
      });
    }
    return { groups: out, points, vertices };
  }

  // Draws the batched (static) shapes; the context's transform maps image to device pixels
  // at zoom z.
  drawBatches(c, L, z) {
    c.lineJoin = 'round';
    // Many vertices: device-pixel hairlines (a fast path in software rasterizers); else 1.5px.
    const lw = L.batches.vertices > 4000 ? 0.99 / (z * this.dpr) : 1.5 / z;
    for (const b of L.batches.groups) {
      c.fillStyle = b.color;
      c.strokeStyle = b.color;
      if (b.fill) {
        c.globalAlpha = 0.15;
        c.fill(b.fill);
        c.globalAlpha = 1;
      }
      c.lineWidth = lw;
      if (b.solid) c.stroke(b.solid);
      if (b.dashed) {
        c.setLineDash([5 / z, 4 / z]);
        c.stroke(b.dashed);
        c.setLineDash([]);
      }
    }
    for (const it of L.batches.points) this.drawPoints(c, it.g, this.host.colorOf(it.obj), 3.5 / z);
  }

  // The static shapes of a frame are rendered into an offscreen cache: the whole image (plus a
  // pad) when that is not much larger than the view, else the view plus a margin. Panning blits
  // it translated; zooming blits it scaled until the view rests, then it is redrawn sharp.
  renderCache(L) {
    const z = this.zoom, W = this.width, H = this.height, d = this.dpr;
    const pad = 48;
    const fw = this.imgW * z + 2 * pad, fh = this.imgH * z + 2 * pad;
    let x0, y0, w, h, full;
    if (this.imgW && fw * fh <= 2.5 * W * H && fw * d <= 8192 && fh * d <= 8192) {
      full = true;
      w = fw;
      h = fh;
      x0 = -pad / z;
      y0 = -pad / z;
    } else {
      full = false;
      const m = 256;
      w = W + 2 * m;
      h = H + 2 * m;
      x0 = (-m - this.offX) / z;
      y0 = (-m - this.offY) / z;
    }
    const cw = Math.max(1, Math.ceil(w * d)), ch = Math.max(1, Math.ceil(h * d));
    if (!L.canvas) {
      L.canvas = document.createElement('canvas');
      L.ctx = L.canvas.getContext('2d');
    }
    if (L.canvas.width !== cw || L.canvas.height !== ch) {
      L.canvas.width = cw;
      L.canvas.height = ch;
    }
    const c = L.ctx;
    c.setTransform(1, 0, 0, 1, 0, 0);
    c.clearRect(0, 0, cw, ch);
    c.setTransform(d * z, 0, 0, d * z, -d * z * x0, -d * z * y0);
    this.drawBatches(c, L, z);
    L.state = { batches: L.batches, zoom: z, x0, y0, w, h, full, dpr: d, vw: W, vh: H };
  }

  // Does the layer's cache serve the current transform as it is (no rescale, view covered)?
  cacheFits(L) {
    const s = L.state;
    if (!s || s.zoom !== this.zoom) return false;
    if (s.full) return true;
    const left = s.x0 * this.zoom + this.offX, top = s.y0 * this.zoom + this.offY;
    return left <= 0 && top <= 0 && left + s.w >= this.width && top + s.h >= this.height;
  }

  // Per-frame layers (batches + cache), a few frames kept so that going back is a blit.
  layer(frame) {
    if (!this.layers) this.layers = new Map();
    let L = this.layers.get(frame);
    if (L) {
      this.layers.delete(frame);
    } else {
      L = { key: null, batches: null, canvas: null, ctx: null, state: null };
    }
    this.layers.set(frame, L);
    while (this.layers.size > 3) {
      const oldest = this.layers.keys().next().value;
      const o = this.layers.get(oldest);
      if (o.canvas) o.canvas.width = o.canvas.height = 0;
      this.layers.delete(oldest);
    }
    return L;
  }

  render() {
    const t0 = performance.now();
    if (this.imageDirty) this.drawImage();
    const c = this.sctx, d = this.dpr, z = this.zoom;
    c.setTransform(1, 0, 0, 1, 0, 0);
    c.clearRect(0, 0, this.shapeCanvas.width, this.shapeCanvas.height);
    const items = this.host.items();
    const live = this.host.liveCid();
    const sel = this.host.selectedCid();
    const L = this.layer(this.host.frame());
    if (L.key?.items !== items || L.key?.live !== live) {
      L.batches = this.buildBatches(items, live);
      L.key = { items, live };
    }
    const s0 = L.state;
    const stale = !s0 || s0.batches !== L.batches || s0.dpr !== d || s0.vw !== this.width || s0.vh !== this.height;
    if (stale || (s0.zoom === z && !this.cacheFits(L))) {
      this.renderCache(L);
    } else if (s0.zoom !== z) {
      // Zooming: the cache scaled for now, sharp again once the view rests.
      clearTimeout(this.restTimer);
      this.restTimer = setTimeout(() => {
        const cur = this.layers?.get(this.host.frame());
        if (cur && cur.state && !this.cacheFits(cur)) {
          cur.state = null;
          this.invalidate();
        }
      }, 150);
    }
    const s = L.state;
    const k = z / s.zoom;
    c.setTransform(k, 0, 0, k, d * (s.x0 * z + this.offX), d * (s.y0 * z + this.offY));
    c.imageSmoothingEnabled = true;
    c.drawImage(L.canvas, 0, 0);
    c.setTransform(d * z, 0, 0, d * z, d * this.offX, d * this.offY);
    c.lineJoin = 'round';
    // Live (being edited) and selected objects on top.
    for (const it of items) {
      if (!it.g || it.obj.hidden || it.outside) continue;
      if (it.obj.cid !== live && it.obj.cid !== sel) continue;
      this.drawOne(c, it.g, this.host.colorOf(it.obj), it.obj.cid === sel);
    }
    this.host.overlay(c, z);
    this.renderHandles();
    this.lastRenderMs = performance.now() - t0;
  }

  drawOne(c, g, color, selected) {
    const z = this.zoom;
    if (g.type === 'points') {
      this.drawPoints(c, g, color, (selected ? 5 : 3.5) / z);
      return;
    }
    const path = new Path2D();
    tracePath(path, g);
    c.strokeStyle = color;
    c.fillStyle = color;
    if (g.type !== 'polyline') {
      c.globalAlpha = selected ? 0.35 : 0.15;
      c.fill(path);
      c.globalAlpha = 1;
    }
    c.lineWidth = (selected ? 2.5 : 1.5) / z;
    if (g.occluded) c.setLineDash([5 / z, 4 / z]);
    c.stroke(path);
    c.setLineDash([]);
  }

  drawPoints(c, g, color, r) {
    const p = g.points;
    const path = new Path2D();
    for (let i = 0; i < p.length; i += 2) {
      path.moveTo(p[i] + r, p[i + 1]);
      path.arc(p[i], p[i + 1], r, 0, Math.PI * 2);
    }
    c.fillStyle = color;
    c.fill(path);
    c.strokeStyle = '#fff';
    c.lineWidth = 1 / this.zoom;
    c.stroke(path);
  }

  // Handles of the selected object, as SVG in screen coordinates (no pointer events: the tools
  // hit-test handles themselves so the frame canvas stays the event target).
  renderHandles() {
    const hs = this.host.handles();
    const key = hs.map((h) => `${h.kind}${h.x},${h.y}`).join(';') + `|${this.zoom},${this.offX},${this.offY}`;
    if (key === this.handleKey) return;
    this.handleKey = key;
    const svg = this.svg;
    while (svg.firstChild) svg.firstChild.remove();
    for (const h of hs) {
      const [sx, sy] = this.toScreen(h.x, h.y);
      if (h.kind === 'rotate' && h.from) {
        const [fx, fy] = this.toScreen(h.from[0], h.from[1]);
        const line = document.createElementNS(SVGNS, 'line');
        line.setAttribute('x1', fx);
        line.setAttribute('y1', fy);
        line.setAttribute('x2', sx);
        line.setAttribute('y2', sy);
        line.setAttribute('class', 'ws-handle-line');
        svg.append(line);
      }
      const c = document.createElementNS(SVGNS, 'circle');
      c.setAttribute('cx', sx);
      c.setAttribute('cy', sy);
      c.setAttribute('r', h.kind === 'mid' ? 3.5 : 5);
      c.setAttribute('class', `ws-handle ws-handle-${h.kind}`);
      c.dataset.kind = h.kind;
      if (h.index != null) c.dataset.index = h.index;
      svg.append(c);
    }
  }
}
