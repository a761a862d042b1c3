// @ts-check
// A small event emitter: React Native has no EventTarget, and an app wants `on(name, fn)` returning an
// unsubscribe function. Listeners run synchronously in the order added; one that throws does not stop the others
// (the error goes to `onListenerError`, by default the console).

export class Emitter {
  constructor() {
    /** @type {Map<string, Set<(detail: any) => void>>} */
    this.listeners = new Map();
    /** @type {(error: unknown) => void} */
    this.onListenerError = (error) => console.error('tanis: an event listener threw', error);
  }

  /**
   * @param {string} name an event name, or `*` for every event (called with `{name, detail}`)
   * @param {(detail: any) => void} listener
   * @returns {() => void} removes the listener
   */
  on(name, listener) {
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /**
   * Resolves with the detail of the next `name` event for which `wanted` holds; rejects after `timeoutMs`.
   * @param {string} name
   * @param {(detail: any) => boolean} [wanted]
   * @param {number} [timeoutMs]
   * @returns {Promise<any>}
   */
  once(name, wanted = () => true, timeoutMs = 15_000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`tanis: no ${name} event within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.on(name, (detail) => {
        if (!wanted(detail)) return;
        off();
        clearTimeout(timer);
        resolve(detail);
      });
    });
  }

  /**
   * @param {string} name
   * @param {any} [detail]
   */
  emit(name, detail) {
    for (const key of [name, '*']) {
      for (const listener of [...(this.listeners.get(key) ?? [])]) {
        try {
          listener(key === '*' ? { name, detail } : detail);
        } catch (error) {
          this.onListenerError(error);
        }
      }
    }
  }
}
