// Frame navigation: slider, first/previous/next/last, go to frame, play at a chosen rate.
import { h } from './dom.js';

export class Player {
  constructor(ws) {
    this.ws = ws;
    this.playing = false;
    this.timer = 0;
    const { start, stop } = ws;
    const btn = (name, icon, fn) => h('button', { type: 'button', class: 'ws-btn', 'aria-label': name, title: name, onclick: fn },
      h('span', { 'aria-hidden': 'true', text: icon }));
    this.first = btn('First frame', '|◀', () => ws.setFrame(ws.start));
    this.prev = btn('Previous frame', '◀◀', () => ws.setFrame(ws.frame - 1));
    this.playBtn = h('button', { type: 'button', class: 'ws-btn ws-play', 'aria-label': 'Play', title: 'Play',
      'aria-pressed': 'false', onclick: () => this.toggle() }, h('span', { 'aria-hidden': 'true', text: '▶' }));
    this.next = btn('Next frame', '▶▶', () => ws.setFrame(ws.frame + 1));
    this.last = btn('Last frame', '▶|', () => ws.setFrame(ws.stop));
    this.slider = h('input', { type: 'range', class: 'ws-slider', 'aria-label': 'Frame', min: start, max: stop, step: 1, value: start });
    this.slider.addEventListener('input', () => ws.setFrame(Number(this.slider.value)));
    this.goto = h('input', { type: 'number', class: 'ws-goto', 'aria-label': 'Go to frame', min: start, max: stop, step: 1, value: start });
    this.goto.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        const n = Number(this.goto.value);
        if (Number.isFinite(n) && this.goto.value !== '') ws.setFrame(Math.round(n));
      }
    });
    this.goto.addEventListener('change', () => {
      const n = Number(this.goto.value);
      if (this.goto.value !== '' && Number.isFinite(n)) ws.setFrame(Math.round(n));
    });
    this.rate = h('select', { class: 'ws-rate', 'aria-label': 'Playback rate', title: 'Playback rate (frames per second)' });
    for (const f of [1, 2, 5, 10, 15, 25, 30, 60]) this.rate.append(h('option', { value: f, text: `${f} fps`, selected: f === 10 }));
    this.counter = h('span', { class: 'ws-counter', 'aria-live': 'off' });
    this.el = h('div', { class: 'ws-player', role: 'group', 'aria-label': 'Navigation' },
      this.first, this.prev, this.playBtn, this.next, this.last, this.slider,
      this.goto, this.counter, this.rate);
  }

  update() {
    const ws = this.ws;
    this.slider.value = ws.frame;
    if (document.activeElement !== this.goto) this.goto.value = ws.frame;
    this.counter.textContent = `${ws.frame} / ${ws.stop}`;
    // Dimmed, not disabled: a click at either end simply stays on the frame.
    for (const b of [this.first, this.prev]) b.classList.toggle('is-unavailable', ws.frame <= ws.start);
    for (const b of [this.next, this.last]) b.classList.toggle('is-unavailable', ws.frame >= ws.stop);
  }

  toggle() {
    if (this.playing) this.pause();
    else this.play();
  }

  play() {
    const ws = this.ws;
    if (ws.frame >= ws.stop) ws.setFrame(ws.start);
    this.playing = true;
    this.playBtn.setAttribute('aria-pressed', 'true');
    this.playBtn.firstChild.textContent = '❚❚';
    this.playBtn.title = 'Pause';
    const step = async () => {
      if (!this.playing) return;
      const t0 = performance.now();
      if (ws.frame >= ws.stop) return this.pause();
      const n = ws.frame + 1;
      try { await ws.frames.get(n); } catch { /* show it without an image */ }
      if (!this.playing) return;
      ws.setFrame(n);
      const fps = Number(this.rate.value) || 10;
      const wait = Math.max(0, 1000 / fps - (performance.now() - t0));
      this.timer = setTimeout(step, wait);
    };
    this.timer = setTimeout(step, 1000 / (Number(this.rate.value) || 10));
  }

  pause() {
    this.playing = false;
    clearTimeout(this.timer);
    this.playBtn.setAttribute('aria-pressed', 'false');
    this.playBtn.firstChild.textContent = '▶';
    this.playBtn.title = 'Play';
  }
}
