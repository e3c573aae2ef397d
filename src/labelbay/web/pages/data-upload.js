// The data upload of a new task: Upload-Start, one resumable TUS upload per file,
// Upload-Finish, then the request is polled until the task's data is in.

import { ApiError } from '../api.js';
import { TusUpload } from '../tus.js';

const POLL_MS = 1000;

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}


// ---------------------------------------------------------------------------------------------
// Upload of a task's data

export class DataUpload {
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
