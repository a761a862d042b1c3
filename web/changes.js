// The SDK reports what happens to a conversation as Client events carrying its `matchId`; a view wants DOM events
// from the one conversation it shows. This turns the first into the second: `change` (the transcript, a mark, the
// end: anything to render again) and `typing`. The page's own changes to a conversation are dispatched here too:
// a proposal, a notice noted or acknowledged, and `rekeyed` (the safety number or the key on this device), which
// contacts.js sends once it has noted who changed the key.

// `contactEnded`, `safetyNumberChanged` and `takenOver` are contacts.js's to dispatch: it first notes who did it.
const CHANGE = ['message', 'undecryptable', 'sent', 'delivered', 'failed', 'ended', 'contactAdded', 'keyRefused'];

export class Changes {
  /** @param {import('./sdk/client.js').Client} client */
  constructor(client) {
    /** @type {Map<number, EventTarget>} */
    this.targets = new Map();
    for (const name of CHANGE) client.on(name, ({ matchId }) => this.dispatch(matchId, 'change'));
    client.on('typing', ({ matchId }) => this.dispatch(matchId, 'typing'));
  }

  /** The events of conversation `matchId`. */
  of(matchId) {
    let target = this.targets.get(matchId);
    if (!target) this.targets.set(matchId, (target = new EventTarget()));
    return target;
  }

  /** @param {number} matchId @param {'change' | 'typing' | 'rekeyed'} name */
  dispatch(matchId, name) {
    this.targets.get(matchId)?.dispatchEvent(new Event(name));
  }

  /** Sign-out: no view listens any more. */
  clear() {
    this.targets.clear();
  }
}
