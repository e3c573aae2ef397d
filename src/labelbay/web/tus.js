// A TUS 1.0 client for CVAT's upload endpoints (the same requests cvat-sdk sends):
//   POST <endpoint>   Tus-Resumable, Upload-Length, Upload-Metadata: filename <base64>
//                     -> 201 Location (absolute), Upload-Filename
//   PATCH <Location>  Content-Type: application/offset+octet-stream, Upload-Offset, body = chunk
//                     -> 204 Upload-Offset
//   HEAD <Location>   -> Upload-Offset (to resume after a pause or an error)
// On 413 the chunk is halved and sent again.

import { ApiError, errorMessage, writeHeaders } from './api.js';

export const DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024;
const MIN_CHUNK_SIZE = 64 * 1024;
const MAX_RETRIES = 3;
const TUS_VERSION = '1.0.0';

/** base64 of the UTF-8 bytes of a string (btoa alone only takes Latin-1). */
export function base64Utf8(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

class Paused extends Error {
  constructor() {
    super('paused');
    this.name = 'Paused';
  }
}

function abortError() {
  const err = new Error('The upload was cancelled.');
  err.name = 'AbortError';
  return err;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function parseJson(text) {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export class TusUpload {
  /**
   * @param {Blob|File} file
   * @param {string} endpoint  the resource URL, e.g. `/api/tasks/3/data/`
   * @param {object} [options] {chunkSize, filename, onProgress(bytesSent, total)}
   */
  constructor(file, endpoint, options = {}) {
    this.file = file;
    this.endpoint = endpoint;
    this.filename = options.filename || file.name || 'file';
    this.chunkSize = options.chunkSize || DEFAULT_CHUNK_SIZE;
    if (options.onProgress) this.onProgress = options.onProgress;
    this.size = file.size;
    this.offset = 0;
    this.location = null;
    this.uploadFilename = null;
    this.paused = false;
    this.aborted = false;
    this.finished = false;
    this._xhr = null;
    this._promise = null;
    this._wake = null;
    this._inFlight = 0; // bytes of the chunk being sent (for the 404-after-last-chunk case)
  }

  /** Called with (bytesSent, total); replace it or pass `onProgress` in the options. */
  onProgress(_bytesSent, _total) {}

  /** Starts the upload; the promise settles when the file is complete (or fails/aborts). */
  start() {
    if (!this._promise) {
      this._promise = this._run().finally(() => {
        this._xhr = null;
      });
    }
    return this._promise;
  }

  /** Stops sending: the chunk in flight is cancelled; `resume()` continues from the server's offset. */
  pause() {
    if (this.finished || this.aborted) return;
    this.paused = true;
    if (this._xhr) this._xhr.abort();
  }

  resume() {
    if (!this.paused) return;
    this.paused = false;
    if (this._wake) {
      const wake = this._wake;
      this._wake = null;
      wake();
    }
  }

  abort() {
    if (this.finished) return;
    this.aborted = true;
    if (this._xhr) this._xhr.abort();
    if (this._wake) {
      const wake = this._wake;
      this._wake = null;
      wake();
    }
  }

  _report(sent) {
    try {
      this.onProgress(Math.min(sent, this.size), this.size);
    } catch (err) {
      console.warn('upload progress callback failed', err);
    }
  }

  _waitForResume() {
    return new Promise((resolve) => {
      this._wake = resolve;
    });
  }

  async _run() {
    this._report(0);
    if (!this.location) await this._create();
    let errors = 0;
    let sentEmpty = false;
    while (!this.finished) {
      if (this.aborted) throw abortError();
      if (this.paused) {
        await this._waitForResume();
        if (this.aborted) throw abortError();
        if (await this._syncOffset()) break;
        continue;
      }
      if (this.offset >= this.size && (this.size > 0 || sentEmpty)) break;
      try {
        await this._patch();
        sentEmpty = true;
        errors = 0;
      } catch (err) {
        if (err instanceof Paused) continue;
        if (this.aborted) throw abortError();
        const status = err instanceof ApiError ? err.status : 0;
        if (status === 413 && this.chunkSize > MIN_CHUNK_SIZE) {
          this.chunkSize = Math.max(MIN_CHUNK_SIZE, Math.floor(this.chunkSize / 2));
          continue;
        }
        if (status === 409 || status === 0 || status >= 500) {
          errors += 1;
          if (errors > MAX_RETRIES) throw err;
          const told = err.headers && err.headers.get ? err.headers.get('Upload-Offset') : null;
          if (status === 409 && told !== null && /^\d+$/.test(told)) {
            this.offset = Number(told);
            this._report(this.offset);
          } else {
            await sleep(500 * errors);
            if (await this._syncOffset()) break;
          }
          continue;
        }
        throw err;
      }
    }
    this.finished = true;
    this._report(this.size);
    return { location: this.location, filename: this.uploadFilename || this.filename };
  }

  async _create() {
    let response;
    try {
      response = await fetch(this.endpoint, {
        method: 'POST',
        credentials: 'same-origin',
        headers: {
          ...writeHeaders(),
          'Tus-Resumable': TUS_VERSION,
          'Upload-Length': String(this.size),
          'Upload-Metadata': `filename ${base64Utf8(this.filename)}`,
        },
      });
    } catch {
      throw new ApiError(0, `${this.filename}: the server cannot be reached.`);
    }
    if (!response.ok) throw await this._error(response);
    // Read the (empty) body so the browser does not report the request as aborted.
    await response.arrayBuffer().catch(() => null);
    const location = response.headers.get('Location');
    if (!location) throw new ApiError(response.status, `${this.filename}: the server gave no upload location.`);
    this.location = new URL(location, window.location.href).href;
    this.uploadFilename = response.headers.get('Upload-Filename') || this.filename;
    const offset = response.headers.get('Upload-Offset');
    this.offset = offset && /^\d+$/.test(offset) ? Number(offset) : 0;
  }

  /** HEAD: the server's offset. Answers true when the upload turned out to be complete. */
  async _syncOffset() {
    let response;
    try {
      response = await fetch(this.location, {
        method: 'HEAD',
        credentials: 'same-origin',
        headers: { 'Tus-Resumable': TUS_VERSION },
        cache: 'no-store',
      });
    } catch {
      throw new ApiError(0, `${this.filename}: the server cannot be reached.`);
    }
    if (response.status === 404 && this._inFlight && this.offset + this._inFlight >= this.size) {
      // The last chunk arrived before the pause cut the connection: the server completed the
      // file and forgot the upload.
      this.offset = this.size;
      this._report(this.size);
      return true;
    }
    if (!response.ok) throw await this._error(response);
    const offset = response.headers.get('Upload-Offset');
    if (offset === null || !/^\d+$/.test(offset)) {
      throw new ApiError(response.status, `${this.filename}: the server did not tell the upload offset.`);
    }
    this.offset = Number(offset);
    this._inFlight = 0;
    this._report(this.offset);
    return this.offset >= this.size && this.size > 0;
  }

  async _error(response) {
    const body = parseJson(await response.text().catch(() => ''));
    const fallback = `${this.filename}: upload failed (${response.status} ${response.statusText || ''})`.trim();
    const err = new ApiError(response.status, errorMessage(body, fallback), body);
    err.headers = response.headers;
    return err;
  }

  _patch() {
    const start = this.offset;
    const end = Math.min(this.size, start + this.chunkSize);
    const chunk = this.file.slice(start, end);
    this._inFlight = end - start;
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      this._xhr = xhr;
      xhr.open('PATCH', this.location, true);
      const headers = {
        ...writeHeaders(),
        'Tus-Resumable': TUS_VERSION,
        'Upload-Offset': String(start),
        'Content-Type': 'application/offset+octet-stream',
      };
      for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
      xhr.upload.onprogress = (event) => {
        if (event.lengthComputable) this._report(start + Math.min(event.loaded, end - start));
      };
      xhr.onload = () => {
        this._xhr = null;
        if (xhr.status >= 200 && xhr.status < 300) {
          const told = xhr.getResponseHeader('Upload-Offset');
          const next = told !== null && /^\d+$/.test(told) ? Number(told) : end;
          if (next < end) {
            reject(new ApiError(0, `${this.filename}: the server stored less than was sent.`));
            return;
          }
          this.offset = next;
          this._inFlight = 0;
          this._report(this.offset);
          resolve();
          return;
        }
        const body = parseJson(xhr.responseText);
        const fallback = `${this.filename}: upload failed (${xhr.status} ${xhr.statusText || ''})`.trim();
        const err = new ApiError(xhr.status, errorMessage(body, fallback), body);
        err.headers = { get: (name) => xhr.getResponseHeader(name) };
        reject(err);
      };
      xhr.onerror = () => {
        this._xhr = null;
        reject(new ApiError(0, `${this.filename}: the connection was interrupted.`));
      };
      xhr.onabort = () => {
        this._xhr = null;
        if (this.aborted) reject(abortError());
        else reject(new Paused());
      };
      xhr.send(chunk);
    });
  }
}

export default TusUpload;
