// Undo/redo: each entry is a list of {cid, before, after} object states (null = absent); undoing
// puts the `before` states back, redoing the `after` states.

const snap = (o) => (o ? structuredClone(o) : null);
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

export class History {
  constructor(model, onChange) {
    this.model = model;
    this.onChange = onChange;
    this.undoStack = [];
    this.redoStack = [];
    this.limit = 500;
  }

  get canUndo() { return this.undoStack.length > 0; }
  get canRedo() { return this.redoStack.length > 0; }

  // Starts an edit of the given objects; call commit() after changing them (or cancel()).
  begin(cids, name = 'edit') {
    const before = new Map(cids.map((c) => [c, snap(this.model.get(c))]));
    let done = false;
    return {
      add: (cid, b) => {
        if (!before.has(cid)) before.set(cid, b === undefined ? snap(this.model.get(cid)) : b);
      },
      commit: () => {
        if (done) return false;
        done = true;
        const changes = [];
        for (const [cid, b] of before) {
          const a = snap(this.model.get(cid));
          if (!same(a, b)) changes.push({ cid, before: b, after: a });
        }
        if (!changes.length) {
          this.model._cache = null;
          this.onChange(false);
          return false;
        }
        this.undoStack.push({ name, changes });
        if (this.undoStack.length > this.limit) this.undoStack.shift();
        this.redoStack.length = 0;
        this.model.touch();
        this.onChange(true);
        return true;
      },
      cancel: () => {
        if (done) return;
        done = true;
        for (const [cid, b] of before) this.model.put(cid, b);
        this.model._cache = null;
        this.onChange(false);
      },
    };
  }

  // Runs fn() as one undoable edit of cids.
  run(cids, fn, name) {
    const tx = this.begin(cids, name);
    const r = fn(tx);
    tx.commit();
    return r;
  }

  undo() {
    const e = this.undoStack.pop();
    if (!e) return false;
    for (let i = e.changes.length - 1; i >= 0; i--) this.model.put(e.changes[i].cid, e.changes[i].before);
    this.redoStack.push(e);
    this.model.touch();
    this.onChange(true);
    return true;
  }

  redo() {
    const e = this.redoStack.pop();
    if (!e) return false;
    for (const c of e.changes) this.model.put(c.cid, c.after);
    this.undoStack.push(e);
    this.model.touch();
    this.onChange(true);
    return true;
  }
}
