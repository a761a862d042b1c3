// @ts-check
// Building elements without innerHTML: every string a user or a reported message wrote reaches the page as text.

/**
 * What an element is given: attributes (`testid` becomes `data-testid`, `on*` become listeners; null, undefined and
 * false leave one out, true sets it empty).
 * @typedef {Record<string, any>} Attributes
 */

/**
 * A child of an element: a node, text, a number, nothing (null, undefined, false: left out), or a list of them.
 * @typedef {Node | string | number | null | undefined | false | any[]} Child
 */

/**
 * `tag` with `attributes` and `children`.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attributes} [attributes]
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'testid') node.dataset.testid = value;
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : value);
  }
  for (const child of /** @type {Child[]} */ (children).flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/**
 * A name someone chose (a handle), inline among the console's words: in a <bdi>, so that right-to-left letters
 * order themselves and cannot carry the words around them along (console.css isolates it and lets a long one
 * wrap).
 * @param {string} text
 */
export function isolated(text) {
  return el('bdi', { class: 'isolated' }, text);
}

/**
 * Loads that draw into `element`, where a load begun later overtakes one still running (a screen chosen while the
 * last one loads, a period chosen while the last one's figures come). `run(work)` calls `work(current)`, and
 * `current()` says whether no load has begun since, so only the latest may draw. `element` is aria-busy until
 * every load begun has settled, the overtaken ones included: for a screen reader, and for whoever waits until it
 * can no longer change (a test). `overtake()` makes every load still running an overtaken one.
 * @param {HTMLElement} element
 */
export function latestOnly(element) {
  let begun = 0;
  let running = 0;
  return {
    /**
     * @template T
     * @param {(current: () => boolean) => Promise<T>} work
     * @returns {Promise<T>}
     */
    async run(work) {
      const mine = ++begun;
      running += 1;
      element.setAttribute('aria-busy', 'true');
      try {
        return await work(() => mine === begun);
      } finally {
        running -= 1;
        if (running === 0) element.removeAttribute('aria-busy');
      }
    },
    overtake() {
      begun += 1;
    },
  };
}
