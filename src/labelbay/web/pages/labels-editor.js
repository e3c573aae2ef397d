// The labels editor of the create project and create task forms: labels with their colours
// and attributes (select, radio, checkbox, text, number; mutable or not; default value).

import { h, nextId } from '../app.js';

const PALETTE = [
  '#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#bfef45',
  '#fabed4', '#469990', '#dcbeff', '#9a6324', '#800000', '#aaffc3', '#808000', '#000075',
];
const ATTRIBUTE_TYPES = ['select', 'radio', 'checkbox', 'text', 'number'];
const VALUE_HINTS = {
  select: 'Values, comma separated: e.g. red, green, blue',
  radio: 'Values, comma separated: e.g. yes, no',
  checkbox: 'Not needed: true or false (set the default value)',
  text: 'Not needed: free text (set the default value)',
  number: 'min, max, step: e.g. 0, 100, 1',
};

function splitValues(text) {
  return text.split(',').map((v) => v.trim()).filter((v) => v !== '');
}


// ---------------------------------------------------------------------------------------------
// Labels editor

export class LabelsEditor {
  constructor() {
    this.labels = [];
    this.count = 0;
    this.list = h('div', { class: 'labels-list' });
    this.empty = h('p', { class: 'muted labels-empty' }, 'No labels yet. Add the object classes annotators will use.');
    this.addButton = h('button', { type: 'button', class: 'button', onclick: () => this.addLabel(true) }, '+ ', 'Add label');
    this.addButton.setAttribute('aria-label', 'Add label');
    this.note = h('p', { class: 'muted labels-note', hidden: true }, 'Tasks in a project use the project’s labels.');
    this.element = h('fieldset', { class: 'labels-editor', 'aria-label': 'Labels' },
      h('legend', {}, 'Labels'),
      this.note,
      this.list,
      this.empty,
      h('div', { class: 'labels-footer' }, this.addButton));
  }

  setDisabled(disabled, note) {
    this.element.disabled = disabled;
    this.element.classList.toggle('is-disabled', disabled);
    this.note.hidden = !note;
    if (note) this.note.textContent = note;
  }

  nextColor() {
    const used = new Set(this.labels.map((l) => l.color.value.toLowerCase()));
    const free = PALETTE.find((c) => !used.has(c));
    return free || PALETTE[this.count % PALETTE.length];
  }

  addLabel(focus = false) {
    this.count += 1;
    const label = { attributes: [] };
    label.name = h('input', { type: 'text', class: 'label-name', 'aria-label': 'Label name', placeholder: 'Label name, e.g. car', maxlength: '64', autocomplete: 'off' });
    label.color = h('input', { type: 'color', class: 'label-color', 'aria-label': 'Label color', value: this.nextColor() });
    label.attrList = h('div', { class: 'attr-list' });
    const addAttr = h('button', { type: 'button', class: 'button button-small', onclick: () => this.addAttribute(label, true) }, '+ ', 'Add attribute');
    addAttr.setAttribute('aria-label', 'Add attribute');
    const remove = h('button', {
      type: 'button', class: 'button button-small button-danger-quiet', 'aria-label': 'Remove label', title: 'Remove label',
      onclick: () => this.removeLabel(label),
    }, 'Remove');
    label.element = h('div', { class: 'label-card' },
      h('div', { class: 'label-row' }, label.color, label.name, addAttr, remove),
      label.attrList);
    this.labels.push(label);
    this.list.append(label.element);
    this.refresh();
    if (focus) label.name.focus();
    return label;
  }

  removeLabel(label) {
    const index = this.labels.indexOf(label);
    if (index < 0) return;
    this.labels.splice(index, 1);
    label.element.remove();
    this.refresh();
    const neighbour = this.labels[Math.min(index, this.labels.length - 1)];
    (neighbour ? neighbour.name : this.addButton).focus();
  }

  addAttribute(label, focus = false) {
    const attr = {};
    attr.name = h('input', { type: 'text', class: 'attr-name', 'aria-label': 'Attribute name', placeholder: 'Attribute name', maxlength: '64', autocomplete: 'off' });
    attr.type = h('select', { class: 'attr-type', 'aria-label': 'Attribute type' },
      ATTRIBUTE_TYPES.map((t) => h('option', { value: t }, t)));
    attr.values = h('input', { type: 'text', class: 'attr-values', 'aria-label': 'Attribute values', autocomplete: 'off' });
    attr.mutable = h('input', { type: 'checkbox', class: 'attr-mutable' });
    attr.defaultValue = h('input', { type: 'text', class: 'attr-default', 'aria-label': 'Default value', placeholder: 'Default', maxlength: '128', autocomplete: 'off' });
    const mutableId = nextId('mutable');
    attr.mutable.id = mutableId;
    const hint = () => {
      attr.values.placeholder = VALUE_HINTS[attr.type.value];
      attr.values.title = VALUE_HINTS[attr.type.value];
    };
    attr.type.addEventListener('change', hint);
    hint();
    const remove = h('button', {
      type: 'button', class: 'button button-small button-icon button-danger-quiet', 'aria-label': 'Remove attribute', title: 'Remove attribute',
      onclick: () => {
        const i = label.attributes.indexOf(attr);
        label.attributes.splice(i, 1);
        attr.element.remove();
        const neighbour = label.attributes[Math.min(i, label.attributes.length - 1)];
        (neighbour ? neighbour.name : label.name).focus();
      },
    }, '×');
    attr.element = h('div', { class: 'attr-row' },
      attr.name, attr.type, attr.values,
      h('span', { class: 'check' }, attr.mutable, h('label', { for: mutableId }, 'Mutable')),
      attr.defaultValue, remove);
    label.attributes.push(attr);
    label.attrList.append(attr.element);
    if (focus) attr.name.focus();
    return attr;
  }

  refresh() {
    this.empty.hidden = this.labels.length > 0;
  }

  /** The labels as the API wants them, plus messages for what is wrong. */
  read() {
    const errors = [];
    const labels = [];
    const seen = new Set();
    this.labels.forEach((label, i) => {
      const name = label.name.value.trim();
      const where = name ? `Label “${name}”` : `Label ${i + 1}`;
      if (!name) errors.push({ message: `${where}: enter a name.`, field: label.name });
      else if (seen.has(name)) errors.push({ message: `${where}: two labels have this name.`, field: label.name });
      seen.add(name);
      const color = label.color.value;
      const attributes = [];
      const attrSeen = new Set();
      label.attributes.forEach((attr, j) => {
        const result = readAttribute(attr, j);
        const aName = result.value ? result.value.name : '';
        if (result.error) errors.push({ message: `${where}, ${result.error}`, field: result.field });
        else if (attrSeen.has(aName)) errors.push({ message: `${where}, attribute “${aName}”: two attributes have this name.`, field: attr.name });
        else attributes.push(result.value);
        attrSeen.add(aName);
      });
      labels.push({ name, color, attributes });
    });
    return { labels, errors };
  }
}

function readAttribute(attr, index) {
  const name = attr.name.value.trim();
  const type = attr.type.value;
  const where = name ? `attribute “${name}”` : `attribute ${index + 1}`;
  if (!name) return { error: `${where}: enter a name.`, field: attr.name };
  let values = splitValues(attr.values.value);
  let def = attr.defaultValue.value.trim();
  switch (type) {
    case 'select':
    case 'radio':
      if (!values.length) return { error: `${where}: list its values, separated by commas.`, field: attr.values };
      if (new Set(values).size !== values.length) return { error: `${where}: a value is listed twice.`, field: attr.values };
      if (!def) def = values[0];
      if (!values.includes(def)) return { error: `${where}: the default value must be one of its values.`, field: attr.defaultValue };
      break;
    case 'checkbox':
      def = (def || values[0] || 'false').toLowerCase();
      if (def !== 'true' && def !== 'false') return { error: `${where}: a checkbox's default value is true or false.`, field: attr.defaultValue };
      values = [def];
      break;
    case 'text':
      if (!def && values.length) def = attr.values.value.trim();
      values = [def];
      break;
    case 'number': {
      if (values.length !== 3 || values.some((v) => !Number.isFinite(Number(v)))) {
        return { error: `${where}: give min, max and step as three numbers, e.g. 0, 100, 1.`, field: attr.values };
      }
      const [min, max, step] = values.map(Number);
      if (!(min < max)) return { error: `${where}: min must be smaller than max.`, field: attr.values };
      if (!(step > 0)) return { error: `${where}: step must be greater than 0.`, field: attr.values };
      if (!def) def = values[0];
      const d = Number(def);
      if (!Number.isFinite(d) || d < min || d > max) return { error: `${where}: the default value must be a number from ${min} to ${max}.`, field: attr.defaultValue };
      break;
    }
    default:
      return { error: `${where}: unknown type ${type}.`, field: attr.type };
  }
  return { value: { name, input_type: type, mutable: attr.mutable.checked, values, default_value: def } };
}
