// Compressed frames of a job as ImageBitmaps: an LRU of decoded frames and prefetching.
import { http } from './http.js';

export class FrameSource {
  constructor(jobId, start, stop, { capacity = 64, maxBytes = 640 * 2 ** 20, ahead = 8, behind = 2, concurrency = 4 } = {}) {
    this.maxBytes = maxBytes; // decoded RGBA bytes kept (64 frames of 4K would be 2 GB)
    this.bytes = 0;
    this.jobId = jobId;
    this.start = start;
    this.stop = stop;
    this.capacity = capacity;
    this.ahead = ahead;
    this.behind = behind;
    this.concurrency = concurrency;
    this.cache = new Map(); // frame -> ImageBitmap (Map order = recency)
    this.pending = new Map(); // frame -> Promise<ImageBitmap>
    this.queue = [];
    this.active = 0;
    this.closed = false;
    this.errors = new Map();
  }

  // The decoded frame if it is ready, else null (synchronous, for instant display).
  peek(n) {
    const b = this.cache.get(n);
    if (b) {
      this.cache.delete(n);
      this.cache.set(n, b);
    }
    return b || null;
  }

  get(n, priority = true) {
    const b = this.peek(n);
    if (b) return Promise.resolve(b);
    let p = this.pending.get(n);
    if (p) {
      if (priority) this._promote(n);
      return p;
    }
    p = new Promise((resolve, reject) => {
      const job = { n, resolve, reject };
      if (priority) this.queue.unshift(job);
      else this.queue.push(job);
    });
    this.pending.set(n, p);
    p.catch(() => {});
    this._pump();
    return p;
  }

  _promote(n) {
    const i = this.queue.findIndex((j) => j.n === n);
    if (i > 0) this.queue.unshift(...this.queue.splice(i, 1));
  }

  _pump() {
    while (!this.closed && this.active < this.concurrency && this.queue.length) {
      const job = this.queue.shift();
      this.active++;
      this._load(job.n).then(job.resolve, job.reject).finally(() => {
        this.active--;
        this.pending.delete(job.n);
        this._pump();
      });
    }
  }

  async _load(n) {
    const res = await http.raw(`/api/jobs/${this.jobId}/data`, { type: 'frame', quality: 'compressed', number: n });
    if (!res.ok) {
      const err = new Error(`frame ${n}: HTTP ${res.status}`);
      this.errors.set(n, err);
      throw err;
    }
    const bitmap = await createImageBitmap(await res.blob());
    if (this.closed) {
      bitmap.close?.();
      throw new Error('closed');
    }
    this.cache.set(n, bitmap);
    this.bytes += bitmap.width * bitmap.height * 4;
    const keep = this.ahead + this.behind + 1;
    while (this.cache.size > this.capacity || (this.bytes > this.maxBytes && this.cache.size > keep)) {
      const [old, bm] = this.cache.entries().next().value;
      this.cache.delete(old);
      this.bytes -= bm.width * bm.height * 4;
      bm.close?.();
    }
    return bitmap;
  }

  // Loads the next frames (and a couple of previous ones) in the background.
  prefetch(n) {
    // Drop queued (not started) prefetches that are far from the current frame.
    this.queue = this.queue.filter((j) => {
      if (j.n >= n - this.behind && j.n <= n + this.ahead) return true;
      this.pending.delete(j.n);
      j.reject(new Error('dropped'));
      return false;
    });
    for (let i = 1; i <= this.ahead; i++) {
      const f = n + i;
      if (f > this.stop) break;
      if (!this.cache.has(f) && !this.pending.has(f)) this.get(f, false);
    }
    for (let i = 1; i <= this.behind; i++) {
      const f = n - i;
      if (f < this.start) break;
      if (!this.cache.has(f) && !this.pending.has(f)) this.get(f, false);
    }
  }

  close() {
    this.closed = true;
    for (const j of this.queue) j.reject(new Error('closed'));
    this.queue = [];
    for (const b of this.cache.values()) b.close?.();
    this.cache.clear();
    this.bytes = 0;
  }
}
