// Small DOM helpers for the views: build elements without innerHTML (no markup from strings, so text from the
// network can never become markup), toasts, and a modal dialog. No inline styles: the CSP allows none.

/**
 * `h('button', {class: 'primary', onclick}, 'Send')`. Attributes starting with `on` are listeners; `false`,
 * null and undefined attributes are left out; children may be strings, nodes, arrays or null.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === false || value == null) continue;
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else if (name === 'value') el.value = value;
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child == null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces the contents of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A short message at the bottom of the screen; `kind` is `info` or `error`. */
export function toast(text, kind = 'info') {
  const box = document.getElementById('toasts');
  const item = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
  box.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 6_000 : 3_500);
}

/**
 * Shows `content` in the modal dialog; resolves with the value passed to `close` (undefined when dismissed).
 * @param {(close: (value?: any) => void) => Node} build
 */
export function modal(build) {
  const dialog = document.getElementById('dialog');
  return new Promise((resolve) => {
    const close = (value) => {
      dialog.close();
      resolve(value);
    };
    dialog.onclose = () => resolve(undefined);
    fill(dialog, build(close));
    dialog.showModal();
  });
}

/** Reads a form's named fields as strings (checkboxes as booleans). */
export function formValues(form) {
  const values = {};
  for (const el of form.elements) {
    if (!el.name) continue;
    if (el.type === 'checkbox') values[el.name] = el.checked;
    else values[el.name] = el.type === 'password' ? el.value : el.value.trim();
  }
  return values;
}
