//! Keeps the TURN relay from being used to reach addresses behind the server, or the server itself.
//!
//! A TURN allocation is a UDP socket on the server that the client can point anywhere. Without a
//! policy, any holder of credentials could send datagrams to the server's loopback services or
//! its private network (and read the replies). The data path ([`super::data_path`]) asks
//! [`is_forbidden_peer`] before it sends to a peer and for every datagram it receives from one;
//! permissions and channels to such a peer are still granted (the client cannot tell), but
//! nothing is ever relayed.
//!
//! The server's own addresses ([`OwnAddresses`]: its listening ports — the HTTP/WebSocket listener, TURN's UDP,
//! TCP and TLS listeners — on any address of this host, and the allocation's own relay address) are refused
//! always, in production and in tests alike, and openly: a CreatePermission or ChannelBind naming one is
//! answered 403 (Forbidden, RFC 8656 §9.1, coturn's `denied-peer-ip` for itself), and a Send or a datagram
//! arriving from one is dropped and counted. Other allocations' relay addresses stay allowed: two clients of
//! this server talk relay to relay through them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whether relaying to/from `ip` must be refused: anything that is not a globally routable
/// unicast address. Covers the ranges coturn's hardening guides deny (`denied-peer-ip`):
/// "this network", RFC 1918, CGNAT, loopback, link-local, IETF/benchmark/documentation/reserved
/// blocks, multicast and broadcast for IPv4; for IPv6 unspecified, loopback, IPv4-mapped and
/// -compatible, NAT64, 6to4, IETF protocol assignments (incl. Teredo), documentation, ULA,
/// link-local, site-local and multicast. IPv6 forms that embed an IPv4 address are refused
/// wholesale because the embedded address may be internal.
pub fn is_forbidden_peer(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

/// The server's own listening sockets, which no peer may be: a datagram relayed to one would reach the server from
/// inside (its HTTP listener from its own address, or TURN spoken to itself).
#[derive(Debug, Clone, Default)]
pub struct OwnAddresses {
    /// Addresses this host is reached at: the relay's public address and every listener's bound address.
    ips: Vec<IpAddr>,
    /// Every listening port.
    ports: Vec<u16>,
}

impl OwnAddresses {
    /// The listeners (HTTP, TURN UDP/TCP/TLS) and the address relay candidates advertise.
    pub fn new(listeners: &[SocketAddr], relay_ip: IpAddr) -> Self {
        let mut own = OwnAddresses::default();
        for ip in listeners.iter().map(SocketAddr::ip).chain([relay_ip]) {
            let ip = ip.to_canonical();
            if !own.ips.contains(&ip) {
                own.ips.push(ip);
            }
        }
        for port in listeners.iter().map(SocketAddr::port) {
            if !own.ports.contains(&port) {
                own.ports.push(port);
            }
        }
        own
    }

    /// Whether `peer` is one of the server's listening sockets: one of its ports at an address of this host.
    pub fn contains(&self, peer: SocketAddr) -> bool {
        self.ports.contains(&peer.port()) && self.is_host(peer.ip())
    }

    /// Whether `ip` reaches this host: a listener's or the relay's address, and any loopback or unspecified
    /// address (a socket bound to 0.0.0.0 answers on all of them, and the kernel delivers 0.0.0.0 to this host).
    pub fn is_host(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_loopback() || ip.is_unspecified() || self.ips.contains(&ip)
    }
}

/// IPv4 blocks that are not global unicast, as (network, prefix length, why).
const FORBIDDEN_V4: &[(Ipv4Addr, u8, &str)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8, "this network"),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "RFC 1918"),
    (Ipv4Addr::new(100, 64, 0, 0), 10, "CGNAT shared space"),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback"),
    (Ipv4Addr::new(169, 254, 0, 0), 16, "link-local (incl. cloud metadata 169.254.169.254)"),
    (Ipv4Addr::new(172, 16, 0, 0), 12, "RFC 1918"),
    (Ipv4Addr::new(192, 0, 0, 0), 24, "IETF protocol assignments"),
    (Ipv4Addr::new(192, 0, 2, 0), 24, "TEST-NET-1"),
    (Ipv4Addr::new(192, 88, 99, 0), 24, "6to4 relay anycast"),
    (Ipv4Addr::new(192, 168, 0, 0), 16, "RFC 1918"),
    (Ipv4Addr::new(198, 18, 0, 0), 15, "benchmarking"),
    (Ipv4Addr::new(198, 51, 100, 0), 24, "TEST-NET-2"),
    (Ipv4Addr::new(203, 0, 113, 0), 24, "TEST-NET-3"),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast"),
    (Ipv4Addr::new(240, 0, 0, 0), 4, "reserved and broadcast"),
];

/// IPv6 blocks that are not global unicast, or that embed an IPv4 address which may be internal.
const FORBIDDEN_V6: &[(Ipv6Addr, u8, &str)] = &[
    (Ipv6Addr::UNSPECIFIED, 128, "unspecified"),
    (Ipv6Addr::LOCALHOST, 128, "loopback"),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0), 96, "IPv4-compatible"),
    (Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96, "IPv4-mapped"),
    (Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 32, "NAT64 (64:ff9b::/96 and 64:ff9b:1::/48)"),
    (Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0), 64, "discard-only"),
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23, "IETF protocol assignments (Teredo, ORCHID...)"),
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32, "documentation"),
    (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16, "6to4"),
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7, "unique local"),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, "link-local"),
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, "site-local (deprecated)"),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "multicast"),
];

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let ip = u32::from(ip).into();
    FORBIDDEN_V4.iter().any(|&(net, len, _)| same_network(ip, u32::from(net).into(), 32 - u32::from(len)))
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    let ip = u128::from(ip);
    FORBIDDEN_V6.iter().any(|&(net, len, _)| same_network(ip, u128::from(net), 128 - u32::from(len)))
}

/// Whether `a` and `b` agree on every bit above the lowest `host_bits` (a /0 matches anything).
fn same_network(a: u128, b: u128, host_bits: u32) -> bool {
    a.checked_shr(host_bits).unwrap_or(0) == b.checked_shr(host_bits).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden(s: &str) -> bool {
        is_forbidden_peer(s.parse().unwrap())
    }

    #[test]
    fn internal_and_special_addresses_are_forbidden() {
        for s in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.0.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.7",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:8.8.8.8",
            "::ffff:10.0.0.1",
            "::10.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:1ff::1",
            "2001:db8::1",
            "2002:a00:1::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
        ] {
            assert!(forbidden(s), "{s} must be forbidden");
        }
    }

    #[test]
    fn the_servers_own_listening_ports_are_its_own_on_any_address_that_reaches_it() {
        let http: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let turn: SocketAddr = "10.0.0.5:3478".parse().unwrap();
        let own = OwnAddresses::new(&[http, turn], "203.0.113.9".parse().unwrap());
        for peer in
            ["203.0.113.9:8080", "203.0.113.9:3478", "10.0.0.5:8080", "127.0.0.1:3478", "0.0.0.0:8080", "[::1]:8080"]
        {
            assert!(own.contains(peer.parse().unwrap()), "{peer} is the server itself");
        }
        for peer in ["203.0.113.9:50000", "198.51.100.1:8080", "10.0.0.6:3478"] {
            assert!(!own.contains(peer.parse().unwrap()), "{peer} is not");
        }
        assert!(own.contains("[::ffff:203.0.113.9]:8080".parse().unwrap()), "nor hidden in an IPv4-mapped form");
    }

    #[test]
    fn public_unicast_addresses_are_allowed() {
        for s in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "126.255.255.255",
            "128.0.0.1",
            "169.253.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.1.1",
            "192.167.0.1",
            "192.169.0.1",
            "198.17.0.1",
            "198.20.0.1",
            "203.0.114.1",
            "223.255.255.255",
            "2001:200::1",
            "2001:4860:4860::8888",
            "2606:4700::1111",
            "2a00:1450::1",
            "fbff::1",
            "fe00::1",
        ] {
            assert!(!forbidden(s), "{s} must be allowed");
        }
    }
}
