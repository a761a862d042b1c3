//! End-to-end encryption of chat messages. The server only relays opaque ciphertext and never sees a key.
//!
//! Scheme (v2):
//! 1. For every match each side generates a fresh X25519 keypair ([`Identity::generate`]) and sends the public key
//!    (32 bytes, standard base64) with its match request. Fresh keys per match mean a leaked key exposes one
//!    conversation only, and keys cannot be used to link one user's matches together.
//! 2. The server hands each side the peer's key, the match id and its [`Role`]. [`E2eSession::establish`] refuses
//!    a malformed key, the caller's own key reflected back, and any key giving a non-contributory (all-zero)
//!    shared secret: a low-order point would force a secret that the attacker — or anyone — knows in advance.
//! 3. HKDF-SHA256 (salt `tanis-e2e-v2`, ikm = shared secret) expands two 32-byte keys with
//!    info = `tanis/v2/` ‖ match id (8 bytes BE) ‖ initiator's public key ‖ responder's public key ‖ `/i2r` or
//!    `/r2i`. One key per direction, so a message can never be decrypted by its own sender's session, and a nonce
//!    used by one side cannot collide with the other's. Both public keys, as sent, are bound: a session belongs to
//!    exactly that pair of keys, so no other encoding of a key (X25519 ignores the top bit) reaches its keys, and a
//!    contact conversation's client that refuses a peer key it used before ([`E2eSession::rekeyed`]'s caller)
//!    can never be brought back to an old session with its counters restarted.
//! 4. XChaCha20-Poly1305. Nonce = 16 random bytes ‖ the sender's message counter (8 bytes BE, starting at 1).
//!    Associated data = `tanis/v2` ‖ match id (8 BE) ‖ direction (0 = i2r, 1 = r2i) ‖ counter (8 BE). A ciphertext
//!    is therefore bound to its match, its direction and its position: the server cannot move it to another
//!    match, reflect it back, or replay it without the receiver noticing. The receiver opens each counter at most
//!    once, up to [`RECEIVE_WINDOW`] behind the highest it opened: the server numbers messages in the order it
//!    accepts them, and a message refused for now and sent again arrives behind those written after it (or two
//!    tabs of one client seal on two sockets). The counter, authenticated, says where the writer put it.
//! 5. Neither side can tell whether the key it received really is its peer's: a malicious server could put
//!    itself in the middle. The [`safety_number`] — a digest of both public keys — is what users compare out of
//!    band; under such an attack the two sides see different numbers.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{Key, KeyInit, XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use std::fmt;
use x25519_dalek::{PublicKey, StaticSecret};

use tanis_proto::MatchId;
const HKDF_SALT: &[u8] = b"tanis-e2e-v2";
const INFO_PREFIX: &[u8] = b"tanis/v2/";
const AD_PREFIX: &[u8] = b"tanis/v2";
const NONCE_LEN: usize = 24;
const NONCE_RANDOM_LEN: usize = 16;
const TAG_LEN: usize = 16;
const AD_LEN: usize = AD_PREFIX.len() + 8 + 1 + 8;

/// Errors from establishing a session or opening a message. Deliberately coarse: the reason a ciphertext
/// failed to authenticate is of no use to the user and of some use to an attacker.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum E2eError {
    #[error("invalid peer public key")]
    InvalidPublicKey,
    #[error("malformed ciphertext or nonce")]
    Malformed,
    #[error("message failed to decrypt")]
    Decrypt,
    #[error("replayed or out-of-order message")]
    Replay,
    /// The message opened, but its franking commitment does not (docs/protocol.md, section 9, "Franking").
    #[error("the message does not match its franking commitment")]
    Franking,
}

/// Which side of the match we are; the server decides and tells both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Initiator,
    Responder,
}

/// Direction of a message, as it appears in the HKDF info and the associated data.
#[derive(Clone, Copy)]
enum Direction {
    InitiatorToResponder = 0,
    ResponderToInitiator = 1,
}

impl Direction {
    fn label(self) -> &'static [u8] {
        match self {
            Self::InitiatorToResponder => b"/i2r",
            Self::ResponderToInitiator => b"/r2i",
        }
    }
}

/// A per-match X25519 keypair. The secret half is zeroized on drop (by x25519-dalek).
// Clone only in tests, which need the same key under two match ids; real code must never reuse a key.
#[cfg_attr(test, derive(Clone))]
pub struct Identity {
    secret: StaticSecret,
    public: PublicKey,
}

impl Identity {
    /// Fresh keypair from the operating system's CSPRNG.
    #[must_use]
    pub fn generate() -> Self {
        let secret = StaticSecret::random();
        let public = PublicKey::from(&secret);
        Self { secret, public }
    }

    #[must_use]
    pub fn public_key(&self) -> [u8; 32] {
        self.public.to_bytes()
    }

    /// The public key as sent to the server: standard base64 of the 32 bytes.
    #[must_use]
    pub fn public_key_b64(&self) -> String {
        B64.encode(self.public.as_bytes())
    }
}

impl Identity {
    /// The key pair whose secret half is `secret` (a stored one: [`Identity::secret_b64`]).
    ///
    /// # Errors
    /// [`E2eError::InvalidPublicKey`] if `secret` is not base64 of 32 bytes.
    pub fn from_secret_b64(secret: &str) -> Result<Self, E2eError> {
        let bytes: [u8; 32] =
            B64.decode(secret).ok().and_then(|bytes| bytes.try_into().ok()).ok_or(E2eError::InvalidPublicKey)?;
        let secret = StaticSecret::from(bytes);
        let public = PublicKey::from(&secret);
        Ok(Self { secret, public })
    }

    /// The secret half, base64: for the host's secret store only, never a log or the record.
    #[must_use]
    pub fn secret_b64(&self) -> String {
        B64.encode(self.secret.to_bytes())
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity").finish_non_exhaustive()
    }
}

/// One message ready to hand to the server; both fields are standard base64.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub ciphertext: String,
    pub nonce: String,
}

/// The encrypted channel with one peer for one match.
pub struct E2eSession {
    match_id: MatchId,
    /// Kept for a contact conversation, whose peer may publish a new key ([`E2eSession::rekeyed`]).
    secret: StaticSecret,
    own_public: [u8; 32],
    peer_public: [u8; 32],
    send_dir: Direction,
    recv_dir: Direction,
    // Ciphers own the derived keys; chacha20poly1305's `zeroize` feature wipes them on drop.
    send_cipher: XChaCha20Poly1305,
    recv_cipher: XChaCha20Poly1305,
    /// Counter of the last message sealed; 0 before the first.
    sent: u64,
    /// The highest counter successfully opened; 0 before the first.
    received: u64,
    /// The receive window below `received`: bit i set means counter `received - 1 - i` was opened.
    window: u64,
}

/// Where a session's counters stand ([`E2eSession::counters`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counters {
    pub sent: u64,
    pub received: u64,
    pub window: u64,
}

/// How far behind the highest counter opened a message may still arrive and be opened, once: a sliding window as
/// in DTLS (RFC 9147 section 4.5.1) and IPsec. A message refused for now and sent again can be overtaken by those
/// sent after it (the server numbers messages in the order it accepts them); a sender that keeps its frames on the
/// wire within [`SEND_AHEAD`](crate::outbox::SEND_AHEAD) counters of its oldest unaccepted one never falls behind it.
pub const RECEIVE_WINDOW: u64 = 64;

impl E2eSession {
    /// Derives the session keys from our keypair and the peer's base64 public key. Consumes the identity so that
    /// a keypair cannot be reused for a second match.
    ///
    /// # Errors
    /// [`E2eError::InvalidPublicKey`] if the peer key is not 32 bytes of base64, equals our own key, or is a
    /// low-order point (non-contributory shared secret).
    pub fn establish(
        identity: Identity,
        peer_public_b64: &str,
        match_id: MatchId,
        role: Role,
    ) -> Result<Self, E2eError> {
        let peer: [u8; 32] = B64
            .decode(peer_public_b64)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(E2eError::InvalidPublicKey)?;
        let own_public = identity.public_key();
        if peer == own_public {
            return Err(E2eError::InvalidPublicKey);
        }
        let shared = identity.secret.diffie_hellman(&PublicKey::from(peer));
        if !shared.was_contributory() {
            return Err(E2eError::InvalidPublicKey);
        }

        let hkdf = Hkdf::<Sha256>::new(Some(HKDF_SALT), shared.as_bytes());
        // The initiator's key first, whichever side derives.
        let (initiator_public, responder_public) = match role {
            Role::Initiator => (own_public, peer),
            Role::Responder => (peer, own_public),
        };
        let cipher_for = |dir: Direction| {
            let mut info = Vec::with_capacity(INFO_PREFIX.len() + 8 + 64 + 4);
            info.extend_from_slice(INFO_PREFIX);
            info.extend_from_slice(&match_id.get().to_be_bytes());
            info.extend_from_slice(&initiator_public);
            info.extend_from_slice(&responder_public);
            info.extend_from_slice(dir.label());
            let mut key = Key::default();
            hkdf.expand(&info, &mut key).expect("32 bytes is a valid HKDF-SHA256 output length");
            XChaCha20Poly1305::new(&key)
        };
        let (send_dir, recv_dir) = match role {
            Role::Initiator => (Direction::InitiatorToResponder, Direction::ResponderToInitiator),
            Role::Responder => (Direction::ResponderToInitiator, Direction::InitiatorToResponder),
        };
        Ok(Self {
            match_id,
            secret: identity.secret.clone(),
            own_public,
            peer_public: peer,
            send_dir,
            recv_dir,
            send_cipher: cipher_for(send_dir),
            recv_cipher: cipher_for(recv_dir),
            sent: 0,
            received: 0,
            window: 0,
        })
    }

    /// Opens a message sealed in this session's own direction by another client holding the same key pair (a
    /// browser tab on the same storage), and takes its counter: this session never seals with it or below it again.
    ///
    /// # Errors
    /// [`E2eError::Malformed`], [`E2eError::Decrypt`].
    pub fn open_sent(&mut self, ciphertext_b64: &str, nonce_b64: &str) -> Result<Vec<u8>, E2eError> {
        let ciphertext = B64.decode(ciphertext_b64).map_err(|_| E2eError::Malformed)?;
        let nonce: [u8; NONCE_LEN] =
            B64.decode(nonce_b64).ok().and_then(|n| n.try_into().ok()).ok_or(E2eError::Malformed)?;
        let counter = u64::from_be_bytes(nonce[NONCE_RANDOM_LEN..].try_into().expect("8-byte slice"));
        let aad = associated_data(self.match_id, self.send_dir, counter);
        let plaintext = self
            .send_cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: &ciphertext, aad: &aad })
            .map_err(|_| E2eError::Decrypt)?;
        self.sent = self.sent.max(counter);
        Ok(plaintext)
    }

    /// This side's public key in the session.
    #[must_use]
    pub fn own_public_key(&self) -> [u8; 32] {
        self.own_public
    }

    /// The counters this session has reached: what must be stored (with the key pair and the peer's key) so that a
    /// restarted client neither seals with a counter it used nor opens a message twice.
    #[must_use]
    pub fn counters(&self) -> Counters {
        Counters { sent: self.sent, received: self.received, window: self.window }
    }

    /// This session with the counters a stored one had reached.
    #[must_use]
    pub fn with_counters(mut self, counters: Counters) -> Self {
        self.sent = counters.sent;
        self.received = counters.received;
        self.window = counters.window;
        self
    }

    /// The secret half of this session's key pair, base64 (for the host's secret store).
    #[must_use]
    pub fn secret_b64(&self) -> String {
        B64.encode(self.secret.to_bytes())
    }

    /// The same conversation under a new key pair: with `identity`, this device's new one (it publishes it with
    /// `contact.key`); with `peer_public_b64`, the key the peer published. The role stays the match's, and the
    /// counters start again at 1: the keys are new, so no nonce or associated data repeats under a key.
    ///
    /// # Errors
    /// [`E2eError::InvalidPublicKey`] as for [`E2eSession::establish`].
    pub fn rekeyed(&self, identity: Option<Identity>, peer_public_b64: Option<&str>) -> Result<Self, E2eError> {
        let identity = identity
            .unwrap_or_else(|| Identity { secret: self.secret.clone(), public: PublicKey::from(self.own_public) });
        let peer = peer_public_b64.map_or_else(|| B64.encode(self.peer_public), str::to_owned);
        let role = match self.send_dir {
            Direction::InitiatorToResponder => Role::Initiator,
            Direction::ResponderToInitiator => Role::Responder,
        };
        Self::establish(identity, &peer, self.match_id, role)
    }

    /// Encrypts the next outgoing message.
    ///
    /// # Panics
    /// After 2^64 − 1 messages, rather than reuse a counter.
    pub fn seal(&mut self, plaintext: &[u8]) -> Sealed {
        self.sent = self.sent.checked_add(1).expect("message counter exhausted");
        let mut nonce = [0u8; NONCE_LEN];
        nonce[..NONCE_RANDOM_LEN].copy_from_slice(&rand::random::<[u8; NONCE_RANDOM_LEN]>());
        nonce[NONCE_RANDOM_LEN..].copy_from_slice(&self.sent.to_be_bytes());
        let aad = associated_data(self.match_id, self.send_dir, self.sent);
        let ciphertext = self
            .send_cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: plaintext, aad: &aad })
            .expect("XChaCha20-Poly1305 accepts any message a client can hold in memory");
        Sealed { ciphertext: B64.encode(ciphertext), nonce: B64.encode(nonce) }
    }

    /// Decrypts and authenticates an incoming message. Returns no plaintext unless every check passed.
    ///
    /// # Errors
    /// [`E2eError::Malformed`] for bad base64 or lengths, [`E2eError::Replay`] if the counter was opened before or is
    /// more than [`RECEIVE_WINDOW`] behind the highest opened, [`E2eError::Decrypt`] if authentication fails (wrong
    /// key, match, direction or tampering). Messages need not come in counter order.
    pub fn open(&mut self, ciphertext_b64: &str, nonce_b64: &str) -> Result<Vec<u8>, E2eError> {
        let ciphertext = B64.decode(ciphertext_b64).map_err(|_| E2eError::Malformed)?;
        let nonce: [u8; NONCE_LEN] =
            B64.decode(nonce_b64).ok().and_then(|n| n.try_into().ok()).ok_or(E2eError::Malformed)?;
        if ciphertext.len() < TAG_LEN {
            return Err(E2eError::Malformed);
        }
        let counter = u64::from_be_bytes(nonce[NONCE_RANDOM_LEN..].try_into().expect("8-byte slice"));
        if !self.fresh(counter) {
            return Err(E2eError::Replay);
        }
        // The counter is authenticated through the AD, so a forged counter fails here and cannot move `received`.
        let aad = associated_data(self.match_id, self.recv_dir, counter);
        let plaintext = self
            .recv_cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: &ciphertext, aad: &aad })
            .map_err(|_| E2eError::Decrypt)?;
        if counter > self.received {
            let shift = counter - self.received;
            self.window = if shift > RECEIVE_WINDOW {
                0
            } else {
                self.window.checked_shl(shift as u32).unwrap_or(0) | 1 << (shift - 1)
            };
            self.received = counter;
        } else {
            self.window |= 1 << (self.received - counter - 1);
        }
        Ok(plaintext)
    }

    /// Whether `counter` may still be opened: past the highest, or within the window and not opened yet.
    fn fresh(&self, counter: u64) -> bool {
        if counter > self.received {
            return true;
        }
        let behind = self.received - counter;
        // Counters start at 1, and `received` itself was opened.
        counter != 0 && behind != 0 && behind <= RECEIVE_WINDOW && self.window & (1 << (behind - 1)) == 0
    }

    /// The peer's public key this session is keyed with.
    #[must_use]
    pub fn peer_public_key(&self) -> [u8; 32] {
        self.peer_public
    }

    /// Digits the two users compare out of band to rule out a man in the middle; identical on both sides.
    #[must_use]
    pub fn safety_number(&self) -> String {
        safety_number(&self.own_public, &self.peer_public)
    }
}

impl fmt::Debug for E2eSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("E2eSession")
            .field("match_id", &self.match_id)
            .field("sent", &self.sent)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}

fn associated_data(match_id: MatchId, dir: Direction, counter: u64) -> [u8; AD_LEN] {
    let mut ad = [0u8; AD_LEN];
    let (prefix, rest) = ad.split_at_mut(AD_PREFIX.len());
    prefix.copy_from_slice(AD_PREFIX);
    rest[..8].copy_from_slice(&match_id.get().to_be_bytes());
    rest[8] = dir as u8;
    rest[9..].copy_from_slice(&counter.to_be_bytes());
    ad
}

/// The sender's counter a base64 nonce of this scheme carries (its last 8 bytes): the order the sender wrote its
/// messages in, whatever order they reach the peer in. None for anything else.
#[must_use]
pub fn counter_of(nonce_b64: &str) -> Option<u64> {
    let nonce: [u8; NONCE_LEN] = B64.decode(nonce_b64).ok()?.try_into().ok()?;
    Some(u64::from_be_bytes(nonce[NONCE_RANDOM_LEN..].try_into().expect("8-byte slice")))
}

/// Six groups of five digits from SHA-256 over both public keys, smaller first so that the order in which the
/// two sides pass them does not matter.
#[must_use]
pub fn safety_number(a: &[u8; 32], b: &[u8; 32]) -> String {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let digest = Sha256::new().chain_update(lo).chain_update(hi).finalize();
    digest[..30]
        .chunks_exact(5)
        .map(|chunk| {
            let mut be = [0u8; 8];
            be[3..].copy_from_slice(chunk);
            format!("{:05}", u64::from_be_bytes(be) % 100_000)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARKER: &[u8] = b"the owl flies at midnight";

    /// Alice (initiator) and Bob (responder) sharing match `match_id`.
    fn pair(match_id: i64) -> (E2eSession, E2eSession) {
        let match_id = MatchId(match_id);
        let (alice, bob) = (Identity::generate(), Identity::generate());
        let (alice_pub, bob_pub) = (alice.public_key_b64(), bob.public_key_b64());
        let a = E2eSession::establish(alice, &bob_pub, match_id, Role::Initiator).unwrap();
        let b = E2eSession::establish(bob, &alice_pub, match_id, Role::Responder).unwrap();
        (a, b)
    }

    fn open(session: &mut E2eSession, sealed: &Sealed) -> Result<Vec<u8>, E2eError> {
        session.open(&sealed.ciphertext, &sealed.nonce)
    }

    /// Re-encodes `b64` after `edit` changes its bytes.
    fn tampered(b64: &str, edit: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut bytes = B64.decode(b64).unwrap();
        edit(&mut bytes);
        B64.encode(bytes)
    }

    fn is_safety_number_shaped(s: &str) -> bool {
        let groups: Vec<&str> = s.split(' ').collect();
        groups.len() == 6 && groups.iter().all(|g| g.len() == 5 && g.bytes().all(|c| c.is_ascii_digit()))
    }

    #[test]
    fn both_sides_exchange_messages_both_ways_and_agree_on_the_safety_number() {
        let (mut alice, mut bob) = pair(42);
        for i in 0..3 {
            let to_bob = alice.seal(format!("hi bob {i}").as_bytes());
            assert_eq!(open(&mut bob, &to_bob).unwrap(), format!("hi bob {i}").as_bytes());
            let to_alice = bob.seal(format!("hi alice {i}").as_bytes());
            assert_eq!(open(&mut alice, &to_alice).unwrap(), format!("hi alice {i}").as_bytes());
        }
        assert_eq!(alice.safety_number(), bob.safety_number());
        assert!(is_safety_number_shaped(&alice.safety_number()), "{}", alice.safety_number());

        let carol = Identity::generate().public_key();
        assert_ne!(safety_number(&alice.own_public, &carol), alice.safety_number());
    }

    #[test]
    fn a_ciphertext_moved_to_another_match_fails_to_decrypt() {
        let (alice, bob) = (Identity::generate(), Identity::generate());
        let (alice_pub, bob_pub) = (alice.public_key_b64(), bob.public_key_b64());
        let mut alice = E2eSession::establish(alice, &bob_pub, MatchId(1), Role::Initiator).unwrap();
        // Same keys, different match: only the match id binding can catch the move.
        let mut bob_here = E2eSession::establish(bob.clone(), &alice_pub, MatchId(1), Role::Responder).unwrap();
        let mut bob_elsewhere = E2eSession::establish(bob, &alice_pub, MatchId(2), Role::Responder).unwrap();
        let sealed = alice.seal(MARKER);
        assert_eq!(open(&mut bob_elsewhere, &sealed), Err(E2eError::Decrypt));
        assert_eq!(open(&mut bob_here, &sealed).unwrap(), MARKER);
    }

    #[test]
    fn a_session_is_bound_to_both_public_keys_as_sent() {
        let (alice, bob) = (Identity::generate(), Identity::generate());
        let (alice_pub, bob_pub) = (alice.public_key_b64(), bob.public_key_b64());
        // X25519 ignores the top bit of a public key: this other encoding of alice's key gives bob the same shared
        // secret. Only the keys bound into the HKDF info make it another session.
        let other_encoding = tampered(&alice_pub, |k| k[31] ^= 0x80);
        let mut alice = E2eSession::establish(alice, &bob_pub, MatchId(3), Role::Initiator).unwrap();
        let mut bob_here = E2eSession::establish(bob.clone(), &alice_pub, MatchId(3), Role::Responder).unwrap();
        let mut bob_other = E2eSession::establish(bob, &other_encoding, MatchId(3), Role::Responder).unwrap();
        let sealed = alice.seal(MARKER);
        assert_eq!(open(&mut bob_other, &sealed), Err(E2eError::Decrypt));
        assert_eq!(open(&mut bob_here, &sealed).unwrap(), MARKER);
    }

    #[test]
    fn a_ciphertext_reflected_back_to_its_sender_fails_to_decrypt() {
        let (mut alice, mut bob) = pair(7);
        let sealed = alice.seal(MARKER);
        assert_eq!(open(&mut alice, &sealed), Err(E2eError::Decrypt));
        let sealed = bob.seal(MARKER);
        assert_eq!(open(&mut bob, &sealed), Err(E2eError::Decrypt));
    }

    #[test]
    fn a_tampered_ciphertext_byte_fails_to_decrypt() {
        let (mut alice, mut bob) = pair(7);
        let sealed = alice.seal(MARKER);
        let forged = tampered(&sealed.ciphertext, |ct| ct[3] ^= 0x01);
        assert_eq!(bob.open(&forged, &sealed.nonce), Err(E2eError::Decrypt));
        // The failed attempt must not have consumed the counter.
        assert_eq!(open(&mut bob, &sealed).unwrap(), MARKER);
    }

    #[test]
    fn a_tampered_nonce_counter_fails_to_decrypt() {
        let (mut alice, mut bob) = pair(7);
        let sealed = alice.seal(MARKER);
        let forged = tampered(&sealed.nonce, |n| n[NONCE_LEN - 1] = 9);
        assert_eq!(bob.open(&sealed.ciphertext, &forged), Err(E2eError::Decrypt));
        assert_eq!(open(&mut bob, &sealed).unwrap(), MARKER);
    }

    #[test]
    fn a_replayed_message_is_rejected_as_replay() {
        let (mut alice, mut bob) = pair(7);
        let sealed = alice.seal(MARKER);
        assert_eq!(open(&mut bob, &sealed).unwrap(), MARKER);
        assert_eq!(open(&mut bob, &sealed), Err(E2eError::Replay));
    }

    #[test]
    fn an_overtaken_message_opens_once_within_the_window_and_not_behind_it() {
        let (mut alice, mut bob) = pair(5);
        let sealed: Vec<Sealed> = (1..=RECEIVE_WINDOW + 3).map(|i| alice.seal(format!("m{i}").as_bytes())).collect();
        let open_n = |bob: &mut E2eSession, n: u64| open(bob, &sealed[(n - 1) as usize]);
        // The newest first, then every other one backwards, each once.
        assert_eq!(open_n(&mut bob, RECEIVE_WINDOW + 1).unwrap(), format!("m{}", RECEIVE_WINDOW + 1).into_bytes());
        for n in (1..=RECEIVE_WINDOW).rev().step_by(2) {
            assert_eq!(open_n(&mut bob, n).unwrap(), format!("m{n}").into_bytes());
            assert_eq!(open_n(&mut bob, n), Err(E2eError::Replay));
        }
        // Two past the highest: counter 1 falls out of the window, 3 is at its edge.
        assert!(open_n(&mut bob, RECEIVE_WINDOW + 3).is_ok());
        assert_eq!(open_n(&mut bob, 1), Err(E2eError::Replay));
        assert_eq!(open_n(&mut bob, 3).unwrap(), b"m3");
        assert!(open_n(&mut bob, RECEIVE_WINDOW + 2).is_ok());
        assert_eq!(open_n(&mut bob, RECEIVE_WINDOW + 2), Err(E2eError::Replay));
    }

    #[test]
    fn an_older_message_after_a_newer_one_is_opened_once() {
        let (mut alice, mut bob) = pair(7);
        let first = alice.seal(b"one");
        let second = alice.seal(b"two");
        assert_eq!(open(&mut bob, &second).unwrap(), b"two");
        assert_eq!(open(&mut bob, &first).unwrap(), b"one");
        assert_eq!(open(&mut bob, &first), Err(E2eError::Replay));
    }

    #[test]
    fn all_zero_and_low_order_peer_keys_are_refused() {
        let mut one = [0u8; 32];
        one[0] = 1;
        // A point of order 8 (RFC 7748 section 7 / libsodium blocklist).
        let order_8: [u8; 32] = [
            0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a, 0xda, 0x09,
            0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00,
        ];
        for bad in [[0u8; 32], one, order_8] {
            let result = E2eSession::establish(Identity::generate(), &B64.encode(bad), MatchId(1), Role::Initiator);
            assert_eq!(result.unwrap_err(), E2eError::InvalidPublicKey, "{bad:02x?}");
        }
    }

    #[test]
    fn our_own_key_reflected_back_as_the_peer_key_is_refused() {
        let me = Identity::generate();
        let mine = me.public_key_b64();
        assert_eq!(
            E2eSession::establish(me, &mine, MatchId(1), Role::Initiator).unwrap_err(),
            E2eError::InvalidPublicKey
        );
    }

    #[test]
    fn a_31_byte_or_non_base64_peer_key_is_refused() {
        for bad in [B64.encode([7u8; 31]), "not base64!".to_owned()] {
            let result = E2eSession::establish(Identity::generate(), &bad, MatchId(1), Role::Responder);
            assert_eq!(result.unwrap_err(), E2eError::InvalidPublicKey, "{bad}");
        }
    }

    #[test]
    fn bad_base64_or_a_short_nonce_is_malformed() {
        let (mut alice, mut bob) = pair(7);
        let sealed = alice.seal(MARKER);
        assert_eq!(bob.open("%%%", &sealed.nonce), Err(E2eError::Malformed));
        assert_eq!(bob.open(&sealed.ciphertext, "%%%"), Err(E2eError::Malformed));
        assert_eq!(bob.open(&sealed.ciphertext, &B64.encode([0u8; 12])), Err(E2eError::Malformed));
        assert_eq!(open(&mut bob, &sealed).unwrap(), MARKER);
    }

    #[test]
    fn the_ciphertext_hides_the_plaintext_and_two_seals_of_it_differ() {
        let (mut alice, _bob) = pair(7);
        let first = alice.seal(MARKER);
        let second = alice.seal(MARKER);
        let raw = B64.decode(&first.ciphertext).unwrap();
        assert!(!raw.windows(MARKER.len()).any(|w| w == MARKER));
        assert!(!first.ciphertext.as_bytes().windows(MARKER.len()).any(|w| w == MARKER));
        assert_ne!(first.ciphertext, second.ciphertext);
        assert_ne!(first.nonce, second.nonce);
    }

    #[test]
    fn a_man_in_the_middle_works_but_shows_up_as_differing_safety_numbers() {
        let (alice, bob) = (Identity::generate(), Identity::generate());
        let (mallory_for_alice, mallory_for_bob) = (Identity::generate(), Identity::generate());
        let (alice_pub, bob_pub) = (alice.public_key_b64(), bob.public_key_b64());
        let (m_a_pub, m_b_pub) = (mallory_for_alice.public_key_b64(), mallory_for_bob.public_key_b64());

        // The server gives each victim one of Mallory's keys instead of the other victim's.
        let mut alice = E2eSession::establish(alice, &m_a_pub, MatchId(9), Role::Initiator).unwrap();
        let mut bob = E2eSession::establish(bob, &m_b_pub, MatchId(9), Role::Responder).unwrap();
        let mut m_alice = E2eSession::establish(mallory_for_alice, &alice_pub, MatchId(9), Role::Responder).unwrap();
        let mut m_bob = E2eSession::establish(mallory_for_bob, &bob_pub, MatchId(9), Role::Initiator).unwrap();

        let intercepted = open(&mut m_alice, &alice.seal(MARKER)).unwrap();
        assert_eq!(intercepted, MARKER);
        assert_eq!(open(&mut bob, &m_bob.seal(&intercepted)).unwrap(), MARKER);

        assert_eq!(alice.safety_number(), m_alice.safety_number());
        assert_eq!(bob.safety_number(), m_bob.safety_number());
        assert_ne!(alice.safety_number(), bob.safety_number());
    }

    #[test]
    fn the_safety_number_does_not_depend_on_argument_order_and_is_pinned() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        assert_eq!(safety_number(&a, &b), safety_number(&b, &a));
        let digest = Sha256::digest([a, b].concat());
        let first = u64::from_be_bytes([0, 0, 0, digest[0], digest[1], digest[2], digest[3], digest[4]]) % 100_000;
        assert!(safety_number(&a, &b).starts_with(&format!("{first:05} ")));
    }

    /// Known answers shared with the JavaScript clients, for the key pairs with secrets `[0x11; 32]` (initiator)
    /// and `[0x22; 32]` in match 4242: the first message was sealed by the web client's former web/e2e.js
    /// (WebCrypto X25519 and HKDF; its text says so and stays as sealed); the SDK (sdk/typescript/src/crypto,
    /// noble) opens it in sdk/typescript/test/crypto.test.js, and tests/browser/e2e.test.js opens the second,
    /// sealed here, in Chromium.
    #[test]
    fn messages_sealed_by_the_web_client_open_here_and_both_derive_the_same_safety_number() {
        let identity = |fill: u8| {
            let secret = StaticSecret::from([fill; 32]);
            let public = PublicKey::from(&secret);
            Identity { secret, public }
        };
        let (alice, bob) = (identity(0x11), identity(0x22));
        assert_eq!(alice.public_key_b64(), "e06Qm75//kTEZaIgA31gjuNYl9Me+XLwf3SJLLD3PxM=");
        assert_eq!(bob.public_key_b64(), "D6poTtKIZ7l/Smot7l34zpdOdrcBjj8iocTPJnhXDyA=");
        let alice_pub = alice.public_key_b64();
        let mut bob = E2eSession::establish(bob, &alice_pub, MatchId(4242), Role::Responder).unwrap();
        let from_web = bob
            .open(
                "REl+jiP0/ZshwVfByDmi4UabWbrf0HsTbDxKOf6sOylRU+87g1KR4ga0TpdLy1Lt6Z9Ejk/F",
                "tiLegx2fw3R8qnd5fmjbmwAAAAAAAAAB",
            )
            .unwrap();
        assert_eq!(String::from_utf8(from_web).unwrap(), "sealed by web/e2e.js: ğüşıöç ✓");
        assert_eq!(bob.safety_number(), "65214 51174 20574 11678 51691 30878");
    }

    #[test]
    fn debug_output_carries_no_key_material() {
        let me = Identity::generate();
        let public = me.public_key_b64();
        assert!(!format!("{me:?}").contains(&public));
        let (alice, _bob) = pair(7);
        let shown = format!("{alice:?}");
        assert!(!shown.contains(&B64.encode(alice.own_public)) && !shown.contains("key"), "{shown}");
    }
}
