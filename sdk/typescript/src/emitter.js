// @ts-check
// A small event emitter: React Native has no EventTarget, and an app wants `on(name, fn)` returning an
// unsubscribe function. Listeners run synchronously in the order added; one that throws does not stop the others
// (the error goes to `onListenerError`, by default the console). Typed by an event map (src/events.d.ts): an
// `Emitter<ClientEvents>` takes only the names of ClientEvents, each listener called with its detail's type.

/**
 * @template {Record<string, any>} [E=Record<string, any>] the event map: name to detail (`*`: `{name, detail}`)
 */
export class Emitter {
  constructor() {
    /** @type {Map<string, Set<(detail: any) => void>>} */
    this.listeners = new Map();
    /** @type {(error: unknown) => void} */
    this.onListenerError = (error) => console.error('tanis: an event listener threw', error);
  }

  /**
   * @template {keyof E & string} K
   * @param {K} name an event name, or `*` for every event (called with `{name, detail}`)
   * @param {(detail: E[K]) => void} listener
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
   * @template {keyof E & string} K
   * @param {K} name
   * @param {(detail: E[K]) => boolean} [wanted]
   * @param {number} [timeoutMs]
   * @returns {Promise<E[K]>}
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
   * Calls the listeners of `name`, then those of `*` with `{name, detail}`.
   * @template {Exclude<keyof E, '*'> & string} K
   * @param {K} name
   * @param {E[K]} detail
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
