// The one DOM helper of the workspace: h('button', {type: 'button', onclick: fn, text: 'Save'}, ...children).
// Attributes named on* become listeners, `text` the text content, `true` an empty attribute;
// null, undefined and false are left out.

export function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}
