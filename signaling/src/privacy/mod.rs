//! ICE candidate privacy filter: only relay candidates may reach the other peer.
//!
//! In an anonymous chat the peer on the other side is a stranger, and every ICE candidate a
//! browser gathers names one of its network addresses: `host` candidates carry the LAN address
//! (or an mDNS name that still identifies the machine on the LAN), `srflx`/`prflx` candidates
//! carry the public address seen by a STUN server, and even a `relay` candidate carries the
//! client's own reflexive address in its `raddr`/`rport` "related address" fields. The SDP
//! itself repeats the default candidate's address in `c=` and `a=rtcp:` lines.
//!
//! tanis therefore forces relay-only media: the server passes every SDP and trickled candidate
//! through this module before forwarding it, so the only address a peer ever learns is the TURN
//! server's relay address. This protects the *sender* from a curious receiver; it cannot stop a
//! peer's browser from sending connectivity checks from its own address to whatever candidate it
//! receives, so clients must also use `iceTransportPolicy: "relay"` to protect themselves from a
//! malicious sender.
//!
//! Everything here is a pure function over text: unparseable input is treated as unsafe and
//! dropped rather than passed through.

use std::net::IpAddr;

/// The `typ` of an ICE candidate (RFC 8445 §5.1.1, RFC 8839 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CandidateType {
    Host,
    Srflx,
    Prflx,
    Relay,
}

/// What the related address of a sanitized relay candidate is replaced with. This is what
/// browsers themselves emit when they hide the related address (e.g. Chrome with mDNS).
const ZERO_RADDR: &str = "0.0.0.0";
const ZERO_RPORT: &str = "0";

/// One whitespace-separated token and its byte offset in the original text, so that rewrites
/// can replace just that token and leave the rest of the line (spacing included) intact.
#[derive(Debug, Clone, Copy)]
struct Token<'a> {
    start: usize,
    text: &'a str,
}

fn tokens(s: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(st)) => {
                out.push(Token { start: st, text: &s[st..i] });
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(st) = start {
        out.push(Token { start: st, text: &s[st..] });
    }
    out
}

/// Replaces the given tokens (which must be in order and non-overlapping) in `line`.
fn replace_tokens(line: &str, replacements: &[(Token<'_>, &str)]) -> String {
    let mut out = String::with_capacity(line.len());
    let mut pos = 0;
    for (tok, new) in replacements {
        out.push_str(&line[pos..tok.start]);
        out.push_str(new);
        pos = tok.start + tok.text.len();
    }
    out.push_str(&line[pos..]);
    out
}

/// A parsed candidate: its type and the tokens of its related address, if any.
struct ParsedCandidate<'a> {
    typ: CandidateType,
    raddr: Option<Token<'a>>,
    rport: Option<Token<'a>>,
}

/// Strips `a=candidate:` / `candidate:` and returns the offset where the fields start.
fn candidate_body_offset(candidate: &str) -> Option<usize> {
    let trimmed = candidate.trim_start();
    let lead = candidate.len() - trimmed.len();
    let after_a = trimmed.strip_prefix("a=").unwrap_or(trimmed);
    let skipped_a = trimmed.len() - after_a.len();
    let prefix = after_a.get(..10)?;
    prefix.eq_ignore_ascii_case("candidate:").then_some(lead + skipped_a + 10)
}

/// Parses `candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type>
/// *(<name> <value>)`. Strict on structure (a candidate we cannot parse is one we cannot prove
/// safe), lenient on case and spacing.
fn parse_candidate(candidate: &str) -> Option<ParsedCandidate<'_>> {
    let offset = candidate_body_offset(candidate)?;
    let toks: Vec<Token<'_>> =
        tokens(&candidate[offset..]).into_iter().map(|t| Token { start: t.start + offset, text: t.text }).collect();
    if toks.len() < 8 || !toks[6].text.eq_ignore_ascii_case("typ") {
        return None;
    }
    // component id, priority and port are numeric in every real candidate.
    for i in [1, 3, 5] {
        toks[i].text.parse::<u64>().ok()?;
    }
    let typ = match toks[7].text.to_ascii_lowercase().as_str() {
        "host" => CandidateType::Host,
        "srflx" => CandidateType::Srflx,
        "prflx" => CandidateType::Prflx,
        "relay" => CandidateType::Relay,
        _ => return None,
    };
    let rest = &toks[8..];
    // Extensions come in name/value pairs; an odd count, or a second `typ` that another parser
    // might honour instead of ours, makes the line ambiguous and therefore unsafe.
    if !rest.len().is_multiple_of(2) {
        return None;
    }
    let (mut raddr, mut rport) = (None, None);
    for pair in rest.chunks(2) {
        let name = pair[0].text.to_ascii_lowercase();
        match name.as_str() {
            "typ" => return None,
            "raddr" if raddr.is_none() => raddr = Some(pair[1]),
            "rport" if rport.is_none() => rport = Some(pair[1]),
            "raddr" | "rport" => return None,
            _ => {}
        }
    }
    Some(ParsedCandidate { typ, raddr, rport })
}

/// The type of an ICE candidate attribute value, with or without the `candidate:` /
/// `a=candidate:` prefix. `None` when the line is not a well-formed candidate.
pub fn candidate_type(candidate: &str) -> Option<CandidateType> {
    parse_candidate(candidate).map(|c| c.typ)
}

/// Returns the candidate if it may be forwarded to the other peer, else `None`.
///
/// Only `relay` candidates pass. Their `raddr`/`rport` are replaced with `0.0.0.0`/`0`: for a
/// relay candidate the related address is the mapped address the TURN server saw, i.e. the
/// client's own public IP, which would defeat the point of relaying. The related address is
/// informational only (RFC 8445 §5.1.1 leaves it to diagnostics), so zeroing it does not affect
/// connectivity. Everything else on the line, including the prefix and spacing, is kept.
pub fn sanitize_candidate(candidate: &str) -> Option<String> {
    let parsed = parse_candidate(candidate)?;
    if parsed.typ != CandidateType::Relay {
        return None;
    }
    let mut replacements: Vec<(Token<'_>, &str)> = Vec::new();
    if let Some(t) = parsed.raddr {
        replacements.push((t, ZERO_RADDR));
    }
    if let Some(t) = parsed.rport {
        replacements.push((t, ZERO_RPORT));
    }
    replacements.sort_by_key(|(t, _)| t.start);
    Some(replace_tokens(candidate, &replacements))
}

/// An SDP with every non-relay candidate removed and the remaining addresses neutralised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilteredSdp {
    pub sdp: String,
    /// How many candidate lines (`a=candidate:` and `a=remote-candidates:`) were dropped.
    pub removed: usize,
}

/// Splits into lines while remembering each line's own terminator (`\r\n`, `\n` or none for a
/// last unterminated line), so the output uses exactly the input's line endings.
fn lines_with_endings(sdp: &str) -> impl Iterator<Item = (&str, &str)> {
    sdp.split_inclusive('\n').map(|seg| {
        let body = seg.strip_suffix('\n').map(|b| b.strip_suffix('\r').unwrap_or(b)).unwrap_or(seg);
        (body, &seg[body.len()..])
    })
}

/// Case-insensitive prefix test: SDP attribute names are case-sensitive, but a filter must not
/// be the stricter parser of the two, or `a=Candidate:` could slip past it.
fn has_prefix(line: &str, prefix: &str) -> bool {
    line.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

fn is_candidate_line(line: &str) -> bool {
    has_prefix(line, "a=candidate:")
}

/// `a=remote-candidates:` (RFC 8839 §5.2) lists the peer's addresses verbatim; browsers do not
/// emit it, and nothing legitimate needs it in a relay-only session.
fn is_remote_candidates_line(line: &str) -> bool {
    has_prefix(line, "a=remote-candidates:")
}

/// The placeholder used for an address of the given SDP `addrtype` token.
fn placeholder(addrtype: &str, v4: &'static str, v6: &'static str) -> &'static str {
    if addrtype.eq_ignore_ascii_case("IP6") { v6 } else { v4 }
}

/// For a `c=`, `o=` or `a=rtcp:` line: the token holding the address and what to replace it
/// with. `None` for lines that carry no address.
fn address_field(line: &str) -> Option<(Token<'_>, &'static str)> {
    let toks = tokens(line);
    // c=<nettype> <addrtype> <address>      o=<user> <id> <version> <nettype> <addrtype> <address>
    // a=rtcp:<port> <nettype> <addrtype> <address>
    let (addr_idx, unspecified) = if has_prefix(line, "c=") {
        (2, true)
    } else if has_prefix(line, "o=") {
        (5, false)
    } else if has_prefix(line, "a=rtcp:") {
        (3, true)
    } else {
        return None;
    };
    let addr = *toks.get(addr_idx)?;
    let addrtype = toks[addr_idx - 1].text;
    let replacement =
        if unspecified { placeholder(addrtype, "0.0.0.0", "::") } else { placeholder(addrtype, "127.0.0.1", "::1") };
    Some((addr, replacement))
}

/// Whether an address field value reveals nothing (what [`sanitize_sdp`] writes, or any other
/// unspecified/loopback address a browser might use, e.g. Firefox's `o=… IN IP4 0.0.0.0`).
fn is_neutral_address(addr: &str) -> bool {
    // c= may carry a multicast TTL/count suffix ("224.2.1.1/127"); the address is before '/'.
    let addr = addr.split('/').next().unwrap_or(addr);
    addr.parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified() || ip.is_loopback())
}

/// Removes every non-relay candidate from an SDP and neutralises every address that could be
/// the client's: relay candidates get their related address zeroed, `c=` and `a=rtcp:` get the
/// unspecified address and `o=` gets loopback (what browsers put there themselves). All other
/// lines, including `a=end-of-candidates` and the `o=` session id, are kept byte for byte.
pub fn sanitize_sdp(sdp: &str) -> FilteredSdp {
    let mut out = String::with_capacity(sdp.len());
    let mut removed = 0;
    for (line, ending) in lines_with_endings(sdp) {
        let kept = if is_candidate_line(line) {
            sanitize_candidate(line)
        } else if is_remote_candidates_line(line) {
            None
        } else if let Some((addr, replacement)) = address_field(line) {
            Some(replace_tokens(line, &[(addr, replacement)]))
        } else {
            Some(line.to_owned())
        };
        match kept {
            Some(line) => {
                out.push_str(&line);
                out.push_str(ending);
            }
            None => removed += 1,
        }
    }
    FilteredSdp { sdp: out, removed }
}

/// Every line of `sdp` that could still reveal a non-relay address: non-relay or unparseable
/// candidates, relay candidates with a related address, remote-candidates lines, and `c=`,
/// `o=` or `a=rtcp:` lines whose address is not unspecified/loopback. Empty after
/// [`sanitize_sdp`]; the server asserts this before forwarding.
pub fn relay_only_violations(sdp: &str) -> Vec<String> {
    let mut violations = Vec::new();
    for (line, _) in lines_with_endings(sdp) {
        let leaks = if is_candidate_line(line) {
            match parse_candidate(line) {
                Some(ParsedCandidate { typ: CandidateType::Relay, raddr, rport }) => {
                    raddr.is_some_and(|t| !is_neutral_address(t.text)) || rport.is_some_and(|t| t.text != ZERO_RPORT)
                }
                _ => true,
            }
        } else if is_remote_candidates_line(line) {
            true
        } else if let Some((addr, _)) = address_field(line) {
            !is_neutral_address(addr.text)
        } else {
            false
        };
        if leaks {
            violations.push(line.to_owned());
        }
    }
    violations
}

#[cfg(test)]
mod tests;
