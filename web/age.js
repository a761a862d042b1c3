// Age assurance (issue 64 point 5; docs/privacy.md "Age assurance"). When the server asks an age assured by its
// provider for a find — `GET /v1/me` says so up front (`age_assurance.required_for`), or a find is refused with
// `age_assurance_required` — the lobby walks the user through it: why it is asked, the provider's page in a new
// tab (where they prove their age; this page never sees a face or a document), then "I'm back" to read the
// result. The provider decides; this module only opens its page and asks what it decided.

import { h, toast } from './dom.js';
import { t } from './i18n.js';

export class AgeAssurance {
  /** @param {{client: import('./sdk/client.js').Client, state: object, render: Function, show: Function}} app */
  constructor(app) {
    this.app = app;
    /** A find was refused for it: the card says so until the age is assured. */
    this.refused = false;
    /** The provider's page was opened: the card offers the check. */
    this.opened = false;
  }

  /** A find refused with `age_assurance_required`: back to the lobby, where the card explains. */
  refusedFind() {
    this.refused = true;
    toast(t('error.age_assurance_required'), 'error');
    this.app.show('lobby');
  }

  /** Starts a session and opens the provider's page in a new tab. */
  async start() {
    // Opened inside the click, so no pop-up blocker stops it; sent to the provider once the server answers.
    const tab = window.open('', '_blank');
    try {
      const started = await this.app.client.startAgeAssurance();
      if (tab) {
        tab.opener = null;
        tab.location.href = started.url;
      } else {
        toast(t('age.popupBlocked'), 'error');
      }
      this.opened = true;
    } catch (e) {
      tab?.close();
      toast(t(`error.${e.code}`, {}, e.message), 'error');
    }
    this.app.render();
  }

  /** Reads what the provider decided, and says it. */
  async check() {
    try {
      const view = await this.app.client.checkAgeAssurance();
      this.app.state.me = { ...this.app.state.me, age_assurance: view };
      const status = view.latest?.status ?? 'pending';
      toast(t(`age.status.${status}`), view.assured ? 'info' : 'error');
      if (view.assured || status !== 'pending') this.opened = false;
      if (view.assured) this.refused = false;
    } catch (e) {
      toast(t(`error.${e.code}`, {}, e.message), 'error');
    }
    this.app.render();
  }

  /** The lobby's card, or nothing when no assurance is asked for (or it stands). */
  card(me) {
    const age = me.age_assurance;
    if (!age?.offered || age.assured || (age.required_for === 'none' && !this.refused)) return null;
    const pending = this.opened || age.latest?.status === 'pending';
    return h('div', { class: 'card notice', 'data-testid': 'age-assurance' },
      h('h2', {}, t('age.title')),
      h('p', {}, t(`age.why.${age.required_for}`)),
      h('p', { class: 'muted small' }, t('age.how')),
      h('button', { class: pending ? '' : 'primary', type: 'button', onclick: () => this.start(), 'data-testid': 'age-start' },
        t(pending ? 'age.startAgain' : 'age.start')),
      pending && h('button', { class: 'primary', type: 'button', onclick: () => this.check(), 'data-testid': 'age-check' },
        t('age.check')));
  }
}
