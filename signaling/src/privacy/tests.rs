use std::collections::HashSet;
use std::net::IpAddr;

use super::*;

/// Chrome-style offer, CRLF, gathered candidates inlined: LAN host, mDNS host, IPv6 host, TCP
/// host, srflx, prflx and relay. 192.168.1.5 / 2001:db8:85a3::7334 are the LAN addresses and
/// 203.0.113.7 the public one; 198.51.100.20 is the TURN server.
const CHROME_OFFER: &str = "v=0\r\n\
o=- 4611731400430051336 2 IN IP4 192.168.1.5\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0 1\r\n\
a=extmap-allow-mixed\r\n\
a=msid-semantic: WMS stream\r\n\
m=audio 56143 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n\
c=IN IP4 203.0.113.7\r\n\
a=rtcp:9 IN IP4 0.0.0.0\r\n\
a=candidate:1467250027 1 udp 2122260223 192.168.1.5 54400 typ host generation 0 network-id 1 network-cost 10\r\n\
a=candidate:2286437389 1 udp 2122194687 3d5c1b0e-7a9f-4a4e-9f55-0c1d2e3f4a5b.local 54401 typ host generation 0 network-id 2\r\n\
a=candidate:3024235412 1 udp 2122129151 2001:db8:85a3::8a2e:370:7334 54402 typ host generation 0 network-id 3\r\n\
a=candidate:467250027 1 tcp 1518280447 192.168.1.5 9 typ host tcptype active generation 0 network-id 1\r\n\
a=candidate:842163049 1 udp 1677729535 203.0.113.7 56143 typ srflx raddr 192.168.1.5 rport 54400 generation 0 ufrag Xy7a network-cost 999\r\n\
a=candidate:1138373530 1 udp 1853824767 203.0.113.7 56200 typ prflx raddr 192.168.1.5 rport 54400 generation 0\r\n\
a=candidate:1853887674 1 udp 33562367 198.51.100.20 61234 typ relay raddr 203.0.113.7 rport 56143 generation 0 network-id 1 network-cost 10\r\n\
a=ice-ufrag:Xy7a\r\n\
a=ice-pwd:3Jq0vVw5uYv2k0T3pQ9sZx1B\r\n\
a=ice-options:trickle\r\n\
a=fingerprint:sha-256 6B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08\r\n\
a=setup:actpass\r\n\
a=mid:0\r\n\
a=sendrecv\r\n\
a=rtcp-mux\r\n\
a=rtpmap:111 opus/48000/2\r\n\
m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n\
c=IN IP4 0.0.0.0\r\n\
a=rtcp:9 IN IP4 0.0.0.0\r\n\
a=mid:1\r\n\
a=rtpmap:96 VP8/90000\r\n";

/// Firefox-style offer: LF-only endings (as some signalling paths deliver it), uppercase
/// transports, per-component candidates, an explicit non-zero `a=rtcp:` and end-of-candidates.
const FIREFOX_OFFER: &str = "v=0
o=mozilla...THIS_IS_SDPARTA-99.0 7383625390471234567 0 IN IP4 0.0.0.0
s=-
t=0 0
a=group:BUNDLE 0
m=audio 49760 UDP/TLS/RTP/SAVPF 109 9 0 8 101
c=IN IP4 203.0.113.9
a=candidate:0 1 UDP 2122252543 10.0.0.23 49760 typ host
a=candidate:1 1 UDP 2122187007 fd00:1234::23 49761 typ host
a=candidate:2 1 TCP 2105524479 10.0.0.23 9 typ host tcptype active
a=candidate:3 1 UDP 1686052863 203.0.113.9 49760 typ srflx raddr 10.0.0.23 rport 49760
a=candidate:4 1 UDP 92217087 198.51.100.20 60001 typ relay raddr 203.0.113.9 rport 49760
a=candidate:0 2 UDP 2122252542 10.0.0.23 49762 typ host
a=candidate:4 2 UDP 92217086 198.51.100.20 60002 typ relay raddr 203.0.113.9 rport 49762
a=sendrecv
a=end-of-candidates
a=mid:0
a=rtcp:49762 IN IP4 203.0.113.9
a=rtpmap:109 opus/48000/2
";

/// webrtc-rs answer over IPv6: `c=`/`a=rtcp:`/`o=` all IP6, an IPv6 TURN relay.
const WEBRTC_RS_IPV6_ANSWER: &str = "v=0\r\n\
o=- 6920920643910646739 1234 IN IP6 2001:db8:1::10\r\n\
s=-\r\n\
t=0 0\r\n\
m=video 50000 UDP/TLS/RTP/SAVPF 96\r\n\
c=IN IP6 2001:db8:1::10\r\n\
a=rtcp:50001 IN IP6 2001:db8:1::10\r\n\
a=candidate:167090039 1 udp 2130706431 2001:db8:1::10 50000 typ host\r\n\
a=candidate:1052566287 1 udp 1694498815 2001:db8:1::10 50000 typ srflx raddr fe80::1c2b:3cff:fe4d:5e6f rport 50000\r\n\
a=candidate:2917401125 1 udp 16777215 2001:db8:ffff::20 61000 typ relay raddr 2001:db8:1::10 rport 50000\r\n\
a=end-of-candidates\r\n\
a=mid:0\r\n";

const LEAKED: &[&str] = &[
    "192.168.1.5",
    "203.0.113.7",
    "3d5c1b0e-7a9f-4a4e-9f55-0c1d2e3f4a5b.local",
    "2001:db8:85a3::8a2e:370:7334",
    "10.0.0.23",
    "fd00:1234::23",
    "203.0.113.9",
    "2001:db8:1::10",
    "fe80::1c2b:3cff:fe4d:5e6f",
];

#[test]
fn candidate_types_are_recognised() {
    let cases = [
        ("candidate:1 1 udp 2122260223 192.168.1.5 54400 typ host", CandidateType::Host),
        ("a=candidate:1 1 udp 2122260223 192.168.1.5 54400 typ host", CandidateType::Host),
        ("candidate:1 1 udp 1 abcd-ef.local 54400 typ host generation 0", CandidateType::Host),
        ("candidate:1 1 udp 1 2001:db8::1 54400 typ host", CandidateType::Host),
        ("candidate:1 1 tcp 1518280447 192.168.1.5 9 typ host tcptype active", CandidateType::Host),
        (
            "candidate:842163049 1 udp 1677729535 203.0.113.7 56143 typ srflx raddr 192.168.1.5 rport 56143 generation 0 ufrag abc network-cost 999",
            CandidateType::Srflx,
        ),
        ("candidate:1 1 udp 1 203.0.113.7 5 typ prflx raddr 192.168.1.5 rport 5", CandidateType::Prflx),
        (
            "  a=candidate:1   1  UDP 92217087   198.51.100.20 60001   typ  RELAY raddr 1.2.3.4 rport 9  ",
            CandidateType::Relay,
        ),
        ("Candidate:1 1 udp 1 198.51.100.20 60001 typ relay", CandidateType::Relay),
    ];
    for (line, want) in cases {
        assert_eq!(candidate_type(line), Some(want), "{line}");
    }
}

#[test]
fn malformed_candidates_are_unparseable() {
    for line in [
        "",
        "candidate:",
        "a=ice-ufrag:abc",
        "candidate:1 1 udp 1 192.168.1.5 54400",
        "candidate:1 1 udp 1 192.168.1.5 54400 type host",
        "candidate:1 1 udp 1 192.168.1.5 54400 typ bogus",
        "candidate:1 x udp 1 192.168.1.5 54400 typ host",
        "candidate:1 1 udp 1 192.168.1.5 port typ host",
        // Odd extension list and a second `typ`: ambiguous, so refused.
        "candidate:1 1 udp 1 198.51.100.20 5 typ relay generation",
        "candidate:1 1 udp 1 198.51.100.20 5 typ relay typ host",
        "candidate:1 1 udp 1 198.51.100.20 5 typ relay raddr 1.2.3.4 raddr 5.6.7.8",
        "xcandidate:1 1 udp 1 198.51.100.20 5 typ relay",
    ] {
        assert_eq!(candidate_type(line), None, "{line:?}");
        assert_eq!(sanitize_candidate(line), None, "{line:?}");
    }
}

#[test]
fn non_relay_candidates_are_dropped() {
    for line in CHROME_OFFER.lines().filter(|l| l.starts_with("a=candidate:") && !l.contains("typ relay")) {
        assert_eq!(sanitize_candidate(line), None, "{line}");
    }
}

#[test]
fn relay_candidate_keeps_everything_but_the_related_address() {
    let line = "candidate:1853887674 1 udp 33562367 198.51.100.20 61234 typ relay raddr 203.0.113.7 rport 56143 generation 0 network-id 1";
    assert_eq!(
        sanitize_candidate(line).unwrap(),
        "candidate:1853887674 1 udp 33562367 198.51.100.20 61234 typ relay raddr 0.0.0.0 rport 0 generation 0 network-id 1"
    );
    // Prefix and odd spacing survive; only the two values change.
    let spaced = "a=candidate:4 1  UDP 92217087 198.51.100.20 60001 typ relay  raddr  203.0.113.9 rport\t49760";
    assert_eq!(
        sanitize_candidate(spaced).unwrap(),
        "a=candidate:4 1  UDP 92217087 198.51.100.20 60001 typ relay  raddr  0.0.0.0 rport\t0"
    );
    // rport before raddr, IPv6 and mDNS related addresses.
    let swapped = "candidate:1 1 udp 1 2001:db8:ffff::20 5 typ relay rport 7 raddr 2001:db8::7";
    assert_eq!(
        sanitize_candidate(swapped).unwrap(),
        "candidate:1 1 udp 1 2001:db8:ffff::20 5 typ relay rport 0 raddr 0.0.0.0"
    );
    let mdns = "candidate:1 1 udp 1 198.51.100.20 5 typ relay raddr abcd.local rport 7";
    assert_eq!(
        sanitize_candidate(mdns).unwrap(),
        "candidate:1 1 udp 1 198.51.100.20 5 typ relay raddr 0.0.0.0 rport 0"
    );
    // Without a related address there is nothing to hide.
    let bare = "candidate:1 1 udp 1 198.51.100.20 5 typ relay";
    assert_eq!(sanitize_candidate(bare).unwrap(), bare);
}

fn candidate_lines(sdp: &str) -> Vec<&str> {
    sdp.lines().filter(|l| l.starts_with("a=candidate:")).collect()
}

#[test]
fn chrome_offer_is_filtered() {
    let out = sanitize_sdp(CHROME_OFFER);
    assert_eq!(out.removed, 6);
    assert_eq!(
        candidate_lines(&out.sdp),
        [
            "a=candidate:1853887674 1 udp 33562367 198.51.100.20 61234 typ relay raddr 0.0.0.0 rport 0 generation 0 network-id 1 network-cost 10"
        ]
    );
    assert!(out.sdp.contains("\r\nc=IN IP4 0.0.0.0\r\n"));
    assert!(!out.sdp.contains("c=IN IP4 203.0.113.7"));
    // Session id and version are kept; only the address changes.
    assert!(out.sdp.starts_with("v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n"));
    // Every other line is untouched and every line still ends in CRLF.
    assert_eq!(out.sdp.lines().count(), CHROME_OFFER.lines().count() - 6);
    assert_eq!(out.sdp.matches('\n').count(), out.sdp.matches("\r\n").count());
    assert!(out.sdp.contains("a=fingerprint:sha-256 6B:8B:F0:65"));
    assert!(out.sdp.ends_with("a=rtpmap:96 VP8/90000\r\n"));
    assert_no_leaks(&out.sdp);
}

#[test]
fn firefox_offer_is_filtered() {
    let out = sanitize_sdp(FIREFOX_OFFER);
    assert_eq!(out.removed, 5);
    assert_eq!(
        candidate_lines(&out.sdp),
        [
            "a=candidate:4 1 UDP 92217087 198.51.100.20 60001 typ relay raddr 0.0.0.0 rport 0",
            "a=candidate:4 2 UDP 92217086 198.51.100.20 60002 typ relay raddr 0.0.0.0 rport 0",
        ]
    );
    assert!(!out.sdp.contains('\r'), "LF input must stay LF");
    assert!(out.sdp.contains("\na=end-of-candidates\n"));
    assert!(out.sdp.contains("\na=rtcp:49762 IN IP4 0.0.0.0\n"));
    assert!(out.sdp.contains("\no=mozilla...THIS_IS_SDPARTA-99.0 7383625390471234567 0 IN IP4 127.0.0.1\n"));
    assert_no_leaks(&out.sdp);
}

#[test]
fn ipv6_answer_is_filtered() {
    let out = sanitize_sdp(WEBRTC_RS_IPV6_ANSWER);
    assert_eq!(out.removed, 2);
    assert!(out.sdp.contains("\r\no=- 6920920643910646739 1234 IN IP6 ::1\r\n"));
    assert!(out.sdp.contains("\r\nc=IN IP6 ::\r\n"));
    assert!(out.sdp.contains("\r\na=rtcp:50001 IN IP6 ::\r\n"));
    assert!(out.sdp.contains(
        "\r\na=candidate:2917401125 1 udp 16777215 2001:db8:ffff::20 61000 typ relay raddr 0.0.0.0 rport 0\r\n"
    ));
    assert_no_leaks(&out.sdp);
}

#[test]
fn violations_name_the_leaking_lines() {
    let v = relay_only_violations(FIREFOX_OFFER);
    assert_eq!(v.len(), 9, "{v:#?}"); // 5 non-relay, 2 relay raddr, c=, a=rtcp:
    assert!(v.contains(&"c=IN IP4 203.0.113.9".to_owned()));
    assert!(v.contains(&"a=candidate:0 1 UDP 2122252543 10.0.0.23 49760 typ host".to_owned()));
    // Firefox's own o= line (0.0.0.0) and the untouched rtcp:9 lines are not leaks.
    assert!(!v.iter().any(|l| l.starts_with("o=")));
    assert_eq!(relay_only_violations(CHROME_OFFER).len(), 9); // 6 candidates, relay raddr, c=, o=
    assert_eq!(relay_only_violations(WEBRTC_RS_IPV6_ANSWER).len(), 6);
}

#[test]
fn sanitizing_is_idempotent() {
    for sdp in [CHROME_OFFER, FIREFOX_OFFER, WEBRTC_RS_IPV6_ANSWER] {
        let once = sanitize_sdp(sdp);
        let twice = sanitize_sdp(&once.sdp);
        assert_eq!(twice.sdp, once.sdp);
        assert_eq!(twice.removed, 0);
    }
}

#[test]
fn remote_candidates_and_odd_case_lines_are_removed() {
    let sdp = "v=0\r\na=remote-candidates:1 192.0.2.3 45664\r\nA=CANDIDATE:1 1 udp 1 10.1.1.1 5 typ host\r\na=mid:0";
    let out = sanitize_sdp(sdp);
    assert_eq!(out.sdp, "v=0\r\na=mid:0"); // unterminated last line stays unterminated
    assert_eq!(out.removed, 2);
}

fn assert_no_leaks(sdp: &str) {
    assert_eq!(relay_only_violations(sdp), Vec::<String>::new());
    for leaked in LEAKED {
        assert!(!sdp.contains(leaked), "{leaked} still in:\n{sdp}");
    }
}

/// xorshift64*: deterministic, so a failure reproduces; no extra dependency for a test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// A client address: private, CGNAT, public or IPv6 (ULA, link-local, global); never in
    /// 198.51.100.0/24 or 2001:db8:ffff::/48, which are reserved for relays.
    fn client_ip(&mut self) -> IpAddr {
        let r = self.next();
        let b = r.to_le_bytes();
        match self.below(6) {
            0 => IpAddr::from([192, 168, b[0], b[1]]),
            1 => IpAddr::from([10, b[0], b[1], b[2]]),
            2 => IpAddr::from([100, 64 | (b[0] & 63), b[1], b[2]]),
            // Public IPv4, skipping 127/8 so no generated address equals the loopback o= placeholder.
            3 => IpAddr::from([if b[0] % 190 == 126 { 128 } else { 1 + b[0] % 190 }, b[1], b[2], b[3]]),
            4 => IpAddr::from([0xfd00, u16::from(b[0]), 0, 0, 0, 0, u16::from(b[1]), u16::from(b[2]) + 1]),
            _ => {
                IpAddr::from([0x2a02, u16::from(b[0]), 0x1234, 0, u16::from(b[3]), 0, u16::from(b[1]), u16::from(b[2])])
            }
        }
    }
    fn relay_ip(&mut self) -> IpAddr {
        let b = self.next().to_le_bytes();
        if b[0].is_multiple_of(4) {
            IpAddr::from([0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, u16::from(b[1]) + 1])
        } else {
            IpAddr::from([198, 51, 100, b[1]])
        }
    }
}

#[test]
fn generated_sdps_never_leak_non_relay_addresses() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let types = ["host", "srflx", "prflx", "relay"];
    for round in 0..300 {
        let eol = if rng.below(2) == 0 { "\r\n" } else { "\n" };
        let mut secret_ips: HashSet<IpAddr> = HashSet::new();
        let mut secret_names = Vec::new();
        let mut relays = 0;
        let mut non_relays = 0;
        let session_ip = rng.client_ip();
        let media_ip = rng.client_ip();
        secret_ips.extend([session_ip, media_ip]);
        let fam = |ip: IpAddr| if ip.is_ipv4() { "IP4" } else { "IP6" };
        let mut sdp = format!("v=0{eol}o=- {round} 2 IN {} {session_ip}{eol}s=-{eol}t=0 0{eol}", fam(session_ip));
        sdp += &format!("m=audio 9 UDP/TLS/RTP/SAVPF 111{eol}c=IN {} {media_ip}{eol}", fam(media_ip));
        sdp += &format!("a=rtcp:9 IN {} {media_ip}{eol}", fam(media_ip));
        for i in 0..rng.below(12) {
            let typ = types[rng.below(4) as usize];
            let transport = ["udp", "UDP", "tcp"][rng.below(3) as usize];
            let sep = ["  ", " ", "\t"][rng.below(3) as usize];
            let (addr, raddr) = if typ == "relay" {
                relays += 1;
                (rng.relay_ip().to_string(), Some(rng.client_ip()))
            } else {
                non_relays += 1;
                let raddr = (typ != "host").then(|| rng.client_ip());
                if typ == "host" && rng.below(3) == 0 {
                    let name = format!("{:016x}-{i}.local", rng.next());
                    secret_names.push(name.clone());
                    (name, None)
                } else {
                    let ip = rng.client_ip();
                    secret_ips.insert(ip);
                    (ip.to_string(), raddr)
                }
            };
            let mut line = format!(
                "a=candidate:{} 1 {transport} {} {addr}{sep}{} typ {typ}",
                rng.next(),
                rng.next() >> 33,
                rng.below(65536)
            );
            if let Some(raddr) = raddr {
                secret_ips.insert(raddr);
                line += &format!(" raddr {raddr} rport {}", rng.below(65536));
            }
            if transport == "tcp" {
                line += " tcptype passive";
            }
            line += " generation 0 network-cost 10";
            sdp += &line;
            sdp += eol;
        }
        sdp += &format!("a=end-of-candidates{eol}");

        let out = sanitize_sdp(&sdp);
        assert_eq!(out.removed, non_relays, "{sdp}");
        assert_eq!(candidate_lines(&out.sdp).len(), relays, "{sdp}");
        assert_eq!(relay_only_violations(&out.sdp), Vec::<String>::new(), "{sdp}");
        assert_eq!(sanitize_sdp(&out.sdp), FilteredSdp { sdp: out.sdp.clone(), removed: 0 });
        for line in out.sdp.lines() {
            for tok in line.split_whitespace() {
                let tok = tok.rsplit(':').next().filter(|_| tok.starts_with("a=")).unwrap_or(tok);
                if let Ok(ip) = tok.parse::<IpAddr>() {
                    assert!(!secret_ips.contains(&ip), "{ip} leaked in {line:?}\nfrom:\n{sdp}");
                }
            }
            for name in &secret_names {
                assert!(!line.contains(name.as_str()), "{name} leaked in {line:?}");
            }
        }
    }
}
