// Keyboard shortcuts (CVAT habits) and the help overlay.

export const SHORTCUTS = [
  ['N', 'Draw again with the last tool; finish the polygon/polyline/points being drawn'],
  ['Enter', 'Finish the polygon/polyline/points being drawn'],
  ['F', 'Next frame'],
  ['D', 'Previous frame'],
  ['Ctrl+S', 'Save'],
  ['Ctrl+Z', 'Undo'],
  ['Ctrl+Shift+Z / Ctrl+Y', 'Redo'],
  ['Delete', 'Remove the selected object'],
  ['Esc', 'Cancel drawing / deselect'],
  ['H', 'Hide / show the selected object'],
  ['L', 'Lock / unlock the selected object'],
  ['Ctrl+C / Ctrl+V', 'Copy / paste the selected object'],
  ['Alt+click on a vertex', 'Remove the vertex'],
  ['Click on an edge midpoint', 'Add a vertex'],
  ['Mouse wheel', 'Zoom around the pointer'],
  ['Drag empty space / middle button', 'Pan'],
  ['? / F1', 'Show / hide this help'],
];

const TEXT_TYPES = new Set(['text', 'number', 'search', 'email', 'password', 'url', 'tel', 'date',
  'datetime-local', 'month', 'time', 'week']);

export function isTyping(target) {
  if (!target || !target.tagName) return false;
  if (target.isContentEditable) return true;
  const tag = target.tagName;
  if (tag === 'TEXTAREA' || tag === 'SELECT') return true;
  return tag === 'INPUT' && TEXT_TYPES.has((target.type || 'text').toLowerCase());
}

export class Keys {
  constructor(ws) {
    this.ws = ws;
    this.onKey = (e) => this.handle(e);
    document.addEventListener('keydown', this.onKey);
    this.overlay = this.buildHelp();
  }

  destroy() {
    document.removeEventListener('keydown', this.onKey);
  }

  buildHelp() {
    const dlg = document.createElement('div');
    dlg.className = 'ws-help';
    dlg.hidden = true;
    dlg.setAttribute('role', 'dialog');
    dlg.setAttribute('aria-modal', 'false');
    dlg.setAttribute('aria-labelledby', 'ws-help-title');
    dlg.setAttribute('data-testid', 'shortcuts-help');
    const box = document.createElement('div');
    box.className = 'ws-help-box';
    const title = document.createElement('h2');
    title.id = 'ws-help-title';
    title.textContent = 'Keyboard shortcuts';
    const table = document.createElement('dl');
    for (const [k, v] of SHORTCUTS) {
      const dt = document.createElement('dt');
      for (const part of k.split(/( \/ |\+)/)) {
        if (part === '+' || part === ' / ') dt.append(part);
        else {
          const kbd = document.createElement('kbd');
          kbd.textContent = part;
          dt.append(kbd);
        }
      }
      const dd = document.createElement('dd');
      dd.textContent = v;
      table.append(dt, dd);
    }
    const close = document.createElement('button');
    close.type = 'button';
    close.className = 'ws-btn';
    close.textContent = 'Close';
    close.addEventListener('click', () => this.toggleHelp(false));
    box.append(title, table, close);
    dlg.append(box);
    dlg.addEventListener('click', (e) => { if (e.target === dlg) this.toggleHelp(false); });
    return dlg;
  }

  toggleHelp(show = this.overlay.hidden) {
    this.overlay.hidden = !show;
    this.ws.helpButton?.setAttribute('aria-expanded', String(show));
    if (show) this.overlay.querySelector('button').focus();
    else if (document.activeElement && this.overlay.contains(document.activeElement)) this.ws.helpButton?.focus();
  }

  handle(e) {
    const ws = this.ws;
    if (!ws.root.isConnected) return;
    if (e.defaultPrevented) return;
    const ctrl = e.ctrlKey || e.metaKey;
    if (isTyping(e.target)) {
      // Ctrl+S still saves: the field's pending value is committed first (change on blur).
      if (ctrl && !e.altKey && (e.key === 's' || e.key === 'S')) {
        e.preventDefault();
        e.target.blur();
        ws.save();
      }
      return;
    }
    const key = e.key;
    const lower = key.length === 1 ? key.toLowerCase() : key;
    const t = ws.tools;
    let done = true;
    if (key === 'F1' || (key === '?' && !ctrl)) this.toggleHelp();
    else if (key === 'Escape') {
      if (!this.overlay.hidden) this.toggleHelp(false);
      else t.escape();
    } else if (ctrl && lower === 's') ws.save();
    else if (ctrl && lower === 'z' && e.shiftKey) ws.redo();
    else if (ctrl && lower === 'z') ws.undo();
    else if (ctrl && lower === 'y') ws.redo();
    else if (ctrl && lower === 'c') {
      if (!t.copy()) done = false;
    } else if (ctrl && lower === 'v') {
      if (!t.paste()) done = false;
    } else if (ctrl || e.altKey) done = false;
    else if (key === 'Delete') t.deleteObject();
    else if (key === 'Enter') {
      if (!t.finish()) done = false;
    } else if (lower === 'n') t.drawAgain();
    else if (lower === 'f') ws.setFrame(ws.frame + 1);
    else if (lower === 'd') ws.setFrame(ws.frame - 1);
    else if (lower === 'h') t.toggleHidden();
    else if (lower === 'l') t.toggleLocked();
    else done = false;
    if (done) e.preventDefault();
  }
}
