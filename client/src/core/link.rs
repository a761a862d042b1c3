//! The core's link to the server: signing in, the socket's life (open, greeted, closed, reconnected after a backoff)
//! and the token refresh it depends on, with the rules of [`policy`](super::policy) (the TypeScript SDK's
//! connection.js and api.js).

use serde_json::json;

use super::policy::{CloseAction, close_action, reconnect_delay};
use super::port::{Event, Millis, Output, Request};
use super::session::{Outcome, Purpose};
use super::{Core, CoreError, Socket};

impl Core {
    /// The app started: with a stored session, a socket is asked for (after a refresh, if the token is due); without
    /// one, nothing happens until [`Core::sign_in`] or [`Core::register`].
    pub fn start(&mut self, now: Millis) -> Vec<Output> {
        if self.session.access_token().is_some() {
            if self.session.refresh_at().is_some_and(|at| at <= now) {
                self.connect_after_refresh = true;
                self.refresh();
            } else {
                self.connect();
            }
        }
        self.take()
    }

    /// Signs in with a phone number and password (`POST /v1/auth/login`).
    pub fn sign_in(&mut self, phone: &str, password: &str, _now: Millis) -> Vec<Output> {
        let body = json!({ "phone": phone, "password": password });
        self.http(Purpose::SignIn, "POST", "/v1/auth/login", Some(body), None);
        self.take()
    }

    /// Creates an account and signs in (`POST /v1/auth/register`); `birth_year` and the privacy notice's acceptance
    /// are what the server requires of every account (docs/api.md).
    pub fn register(
        &mut self,
        phone: &str,
        password: &str,
        alias: &str,
        birth_year: u16,
        accept_privacy_notice: bool,
        _now: Millis,
    ) -> Vec<Output> {
        let body = json!({
            "phone": phone, "password": password, "alias": alias, "birth_year": birth_year,
            "accept_privacy_notice": accept_privacy_notice,
        });
        self.http(Purpose::SignIn, "POST", "/v1/auth/register", Some(body), None);
        self.take()
    }

    /// Signs this session out on the server and forgets it here: tokens, conversation, waiting find.
    pub fn sign_out(&mut self, _now: Millis) -> Vec<Output> {
        if let Some(refresh) = self.session.forget(&*self.secrets) {
            let body = json!({ "refresh_token": refresh });
            self.http(Purpose::SignOut, "POST", "/v1/auth/logout", Some(body), None);
        }
        self.end_locally();
        self.socket = Socket::Closed { reconnect_at: None };
        self.out.push(Output::Disconnect);
        self.take()
    }

    /// The host's answer to [`Output::Request`] `id`: its HTTP status (0 when it never reached the server) and body.
    pub fn response(&mut self, id: u64, status: u16, body: &str, now: Millis) -> Vec<Output> {
        let random = rand::random::<f64>();
        match self.session.answered(id, status, body, &*self.secrets, now, random) {
            Outcome::SignedIn { handle } => {
                self.halted = false;
                self.out.push(Output::Event(Event::SignedIn { handle }));
                if matches!(self.socket, Socket::Closed { .. }) {
                    self.connect();
                }
            }
            Outcome::Refreshed => {
                if std::mem::take(&mut self.connect_after_refresh) && matches!(self.socket, Socket::Closed { .. }) {
                    self.connect();
                    self.fresh_token = true;
                }
            }
            Outcome::SignedOut { code } => {
                self.connect_after_refresh = false;
                self.socket = Socket::Closed { reconnect_at: None };
                self.out.push(Output::Event(Event::SignedOut { code }));
            }
            Outcome::Failed { code } if self.session.access_token().is_none() => {
                self.out.push(Output::Event(Event::SignInFailed { code }));
            }
            Outcome::Failed { .. } | Outcome::Nothing => {}
        }
        self.take()
    }

    /// The socket asked for is open; the server speaks first (`hello`).
    pub fn opened(&mut self, _now: Millis) -> Vec<Output> {
        self.socket = Socket::Open { greeted: false };
        self.take()
    }

    /// The socket closed with `code` (1006 when it just broke), or could not be opened. What follows is the close
    /// code's ([`close_action`]): a reconnect after a backoff, a refresh and then a reconnect, or nothing.
    pub fn closed(&mut self, code: u16, now: Millis) -> Vec<Output> {
        if let Some(conversation) = &mut self.conversation {
            conversation.outbox.reconnected();
            conversation.inbox.disconnected();
        }
        self.socket = Socket::Closed { reconnect_at: None };
        if self.session.access_token().is_none() || self.halted {
            return self.take();
        }
        let action = close_action(code);
        // A refresh is out: the next socket waits for its new token (never two refreshes at once).
        if self.session.refreshing() && matches!(action, CloseAction::Reconnect | CloseAction::Reauthenticate) {
            self.connect_after_refresh = true;
            return self.take();
        }
        // A token refused again right after a refresh, before any `hello`: the session is over, with no second refresh.
        if action == CloseAction::Reauthenticate && std::mem::take(&mut self.fresh_token) {
            self.session.forget(&*self.secrets);
            let code = if code == 4002 { "token_expired" } else { "invalid_token" };
            self.out.push(Output::Event(Event::SignedOut { code: code.into() }));
            return self.take();
        }
        match action {
            CloseAction::Reconnect => {
                let delay = reconnect_delay(code, self.attempts, rand::random::<f64>());
                self.attempts += 1;
                self.socket = Socket::Closed { reconnect_at: Some(now + delay) };
            }
            CloseAction::Reauthenticate => {
                self.connect_after_refresh = true;
                self.refresh();
            }
            CloseAction::Banned => {
                self.halted = true;
                self.out.push(Output::Event(Event::Banned));
            }
            CloseAction::Fatal => {
                self.halted = true;
                self.out.push(Output::Event(Event::Closed { code }));
            }
        }
        self.take()
    }

    /// Asks the host for a socket with the current access token.
    pub(super) fn connect(&mut self) {
        let Some(token) = self.session.access_token() else { return };
        self.out.push(Output::Connect { token: token.to_owned() });
        self.socket = Socket::Opening;
    }

    /// Starts a refresh, unless one is in flight.
    pub(super) fn refresh(&mut self) {
        if let Some((id, stale)) = self.session.refresh() {
            let body = json!({ "refresh_token": stale });
            self.out.push(request(id, "POST", "/v1/auth/refresh", Some(body), None));
        }
    }

    /// The access token for a call the app makes itself, e.g. a REST call the core does not cover.
    ///
    /// # Errors
    /// [`CoreError::SignedOut`].
    pub fn access_token(&self) -> Result<String, CoreError> {
        self.session.access_token().map(str::to_owned).ok_or(CoreError::SignedOut)
    }

    fn http(
        &mut self,
        purpose: Purpose,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        bearer: Option<String>,
    ) {
        let id = self.session.request(purpose);
        self.out.push(request(id, method, path, body, bearer));
    }
}

fn request(id: u64, method: &str, path: &str, body: Option<serde_json::Value>, bearer: Option<String>) -> Output {
    Output::Request(Request {
        id,
        method: method.to_owned(),
        path: path.to_owned(),
        body: body.map(|b| b.to_string()),
        bearer,
    })
}
