// Geometry helpers in image pixel coordinates (CVAT point layouts).

export const DEG = Math.PI / 180;

export function rotateAround(x, y, cx, cy, rad) {
  if (!rad) return [x, y];
  const c = Math.cos(rad), s = Math.sin(rad);
  const dx = x - cx, dy = y - cy;
  return [cx + dx * c - dy * s, cy + dx * s + dy * c];
}

export function normDeg(d) {
  d %= 360;
  if (d < 0) d += 360;
  return d;
}

// Rectangle corners (tl, tr, br, bl), rotated clockwise by `rotation` degrees around the centre.
export function rectCorners(p, rotation = 0) {
  const [x1, y1, x2, y2] = p;
  const cx = (x1 + x2) / 2, cy = (y1 + y2) / 2, r = rotation * DEG;
  return [[x1, y1], [x2, y1], [x2, y2], [x1, y2]].map(([x, y]) => rotateAround(x, y, cx, cy, r));
}

export function ellipseParams(p) {
  const [cx, cy, ex, ey] = p;
  return { cx, cy, rx: Math.abs(ex - cx), ry: Math.abs(cy - ey) };
}

// Axis-aligned bounding box [minx, miny, maxx, maxy] of a geometry {type, points, rotation}.
export function bbox(g) {
  const p = g.points;
  if (g.type === 'rectangle') {
    if (!g.rotation) return [Math.min(p[0], p[2]), Math.min(p[1], p[3]), Math.max(p[0], p[2]), Math.max(p[1], p[3])];
    return boxOf(rectCorners(p, g.rotation).flat());
  }
  if (g.type === 'ellipse') {
    const { cx, cy, rx, ry } = ellipseParams(p);
    const r = (g.rotation || 0) * DEG;
    const hw = Math.sqrt((rx * Math.cos(r)) ** 2 + (ry * Math.sin(r)) ** 2);
    const hh = Math.sqrt((rx * Math.sin(r)) ** 2 + (ry * Math.cos(r)) ** 2);
    return [cx - hw, cy - hh, cx + hw, cy + hh];
  }
  return boxOf(p);
}

function boxOf(p) {
  let a = Infinity, b = Infinity, c = -Infinity, d = -Infinity;
  for (let i = 0; i < p.length; i += 2) {
    const x = p[i], y = p[i + 1];
    if (x < a) a = x;
    if (x > c) c = x;
    if (y < b) b = y;
    if (y > d) d = y;
  }
  return [a, b, c, d];
}

function segDist2(px, py, ax, ay, bx, by) {
  const dx = bx - ax, dy = by - ay;
  const l = dx * dx + dy * dy;
  let t = l ? ((px - ax) * dx + (py - ay) * dy) / l : 0;
  t = Math.max(0, Math.min(1, t));
  const qx = ax + t * dx - px, qy = ay + t * dy - py;
  return qx * qx + qy * qy;
}

function inPolygon(x, y, p) {
  let inside = false;
  const n = p.length;
  for (let i = 0, j = n - 2; i < n; j = i, i += 2) {
    const xi = p[i], yi = p[i + 1], xj = p[j], yj = p[j + 1];
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

// Is image point (x, y) on the geometry? tol = tolerance in image pixels.
export function hit(g, x, y, tol) {
  const b = bbox(g);
  if (x < b[0] - tol || x > b[2] + tol || y < b[1] - tol || y > b[3] + tol) return false;
  const p = g.points;
  switch (g.type) {
    case 'rectangle': {
      const cx = (p[0] + p[2]) / 2, cy = (p[1] + p[3]) / 2;
      const [lx, ly] = rotateAround(x, y, cx, cy, -(g.rotation || 0) * DEG);
      return lx >= Math.min(p[0], p[2]) - tol && lx <= Math.max(p[0], p[2]) + tol &&
        ly >= Math.min(p[1], p[3]) - tol && ly <= Math.max(p[1], p[3]) + tol;
    }
    case 'ellipse': {
      const { cx, cy, rx, ry } = ellipseParams(p);
      const [lx, ly] = rotateAround(x, y, cx, cy, -(g.rotation || 0) * DEG);
      const ax = rx + tol, ay = ry + tol;
      return ((lx - cx) / ax) ** 2 + ((ly - cy) / ay) ** 2 <= 1;
    }
    case 'polygon': {
      if (inPolygon(x, y, p)) return true;
      return nearPolyline(p, x, y, tol, true);
    }
    case 'polyline':
      return nearPolyline(p, x, y, tol, false);
    case 'points':
      for (let i = 0; i < p.length; i += 2) if ((p[i] - x) ** 2 + (p[i + 1] - y) ** 2 <= tol * tol * 2.25) return true;
      return false;
    default:
      return false;
  }
}

function nearPolyline(p, x, y, tol, closed) {
  const t2 = tol * tol;
  const n = p.length;
  for (let i = 0; i + 3 < n; i += 2) if (segDist2(x, y, p[i], p[i + 1], p[i + 2], p[i + 3]) <= t2) return true;
  if (closed && n >= 4 && segDist2(x, y, p[n - 2], p[n - 1], p[0], p[1]) <= t2) return true;
  return false;
}

export function translate(g, dx, dy) {
  const p = g.points;
  for (let i = 0; i < p.length; i += 2) {
    p[i] += dx;
    p[i + 1] += dy;
  }
}

export function centre(g) {
  const p = g.points;
  if (g.type === 'rectangle') return [(p[0] + p[2]) / 2, (p[1] + p[3]) / 2];
  if (g.type === 'ellipse') return [p[0], p[1]];
  const b = bbox(g);
  return [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2];
}

// Linear interpolation between two keyframe geometries (t in [0, 1]); null when impossible.
export function lerpGeometry(a, b, t) {
  if (a.type !== b.type || a.points.length !== b.points.length) return null;
  const points = a.points.map((v, i) => v + (b.points[i] - v) * t);
  let dr = normDeg(b.rotation || 0) - normDeg(a.rotation || 0);
  if (dr > 180) dr -= 360;
  if (dr < -180) dr += 360;
  return { points, rotation: normDeg((a.rotation || 0) + dr * t) };
}
