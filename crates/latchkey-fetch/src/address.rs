//! Which addresses are not ordinary global unicast addresses: the IANA IPv4
//! and IPv6 special-purpose address registries (RFC 6890 and its updates),
//! multicast and the reserved blocks. CIMD draft section 6.5 requires a
//! metadata document URL not to resolve to any of them.

use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A special-purpose address range an address belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SpecialPurpose {
    /// `0.0.0.0/8` ("this network", RFC 791).
    ThisNetwork,
    /// `::` (RFC 4291 section 2.5.2).
    Unspecified,
    /// `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16` (RFC 1918).
    Private,
    /// `100.64.0.0/10`, carrier-grade NAT (RFC 6598).
    Shared,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// `169.254.0.0/16` (cloud metadata services live here), `fe80::/10`.
    LinkLocal,
    /// `192.0.0.0/24` (RFC 6890) and `2001::/23`.
    IetfProtocolAssignment,
    /// `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24` (RFC 5737),
    /// `2001:db8::/32` (RFC 3849), `3fff::/20` (RFC 9637).
    Documentation,
    /// `192.88.99.0/24` (RFC 7526).
    SixToFourRelayAnycast,
    /// `198.18.0.0/15` (RFC 2544).
    Benchmarking,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `240.0.0.0/4` and `255.255.255.255`.
    ReservedOrBroadcast,
    /// `::/16` beyond `::` and `::1` (IPv4-compatible addresses among them).
    ReservedIpv6,
    /// `64:ff9b:1::/48` (RFC 8215).
    LocalUseNat64,
    /// `100::/64` (RFC 6666).
    DiscardOnly,
    /// `2002::/16` (RFC 3056).
    SixToFour,
    /// `5f00::/16` (RFC 9602).
    SegmentRouting,
    /// `fc00::/7` (RFC 4193).
    UniqueLocal,
    /// `fec0::/10` (deprecated, RFC 3879).
    SiteLocal,
}

impl SpecialPurpose {
    /// The range `ip` belongs to, or `None` for an ordinary global unicast
    /// address. IPv4-mapped (`::ffff:0:0/96`, RFC 4291 section 2.5.5.2) and
    /// well-known-prefix NAT64 (`64:ff9b::/96`, RFC 6052) addresses are judged
    /// by the IPv4 address inside.
    pub fn of(ip: IpAddr) -> Option<Self> {
        match ip {
            IpAddr::V4(v4) => of_v4(v4),
            IpAddr::V6(v6) => of_v6(v6),
        }
    }

    /// What the range is, in a few lowercase words (used in errors and logs).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ThisNetwork => "unspecified or this-network address",
            Self::Unspecified => "unspecified address",
            Self::Private => "private address",
            Self::Shared => "shared address space",
            Self::Loopback => "loopback address",
            Self::LinkLocal => "link-local address",
            Self::IetfProtocolAssignment => "ietf protocol assignment",
            Self::Documentation => "documentation address",
            Self::SixToFourRelayAnycast => "6to4 relay anycast address",
            Self::Benchmarking => "benchmarking address",
            Self::Multicast => "multicast address",
            Self::ReservedOrBroadcast => "reserved or broadcast address",
            Self::ReservedIpv6 => "reserved ipv6 address",
            Self::LocalUseNat64 => "local-use nat64 address",
            Self::DiscardOnly => "discard-only address",
            Self::SixToFour => "6to4 address",
            Self::SegmentRouting => "segment routing address",
            Self::UniqueLocal => "unique local address",
            Self::SiteLocal => "site-local address",
        }
    }
}

impl fmt::Display for SpecialPurpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `ip` is a loopback address: `127.0.0.0/8`, `::1`, or an
/// IPv4-mapped loopback address (the same socket on a dual-stack host). A
/// NAT64 address holding `127.x` is not: it leaves the host.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Whether `ip` is in a private network range: RFC 1918, the shared
/// (carrier-grade NAT) space `100.64.0.0/10`, the IPv6 unique local
/// addresses `fc00::/7`, or an IPv4-mapped form of the IPv4 ones. Link-local
/// addresses are not (that is where cloud metadata services answer).
pub fn is_private(ip: IpAddr) -> bool {
    let v4 = match ip {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4,
            None => {
                let [s0, ..] = v6.segments();
                return (s0 & 0xfe00) == 0xfc00;
            }
        },
    };
    matches!(
        v4.octets(),
        [10, ..] | [172, 16..=31, ..] | [192, 168, ..] | [100, 64..=127, ..]
    )
}

fn of_v4(ip: Ipv4Addr) -> Option<SpecialPurpose> {
    let [a, b, c, _] = ip.octets();
    let range = match (a, b, c) {
        (0, _, _) => SpecialPurpose::ThisNetwork,
        (10, _, _) => SpecialPurpose::Private,
        (100, 64..=127, _) => SpecialPurpose::Shared,
        (127, _, _) => SpecialPurpose::Loopback,
        (169, 254, _) => SpecialPurpose::LinkLocal,
        (172, 16..=31, _) => SpecialPurpose::Private,
        (192, 0, 0) => SpecialPurpose::IetfProtocolAssignment,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => SpecialPurpose::Documentation,
        (192, 88, 99) => SpecialPurpose::SixToFourRelayAnycast,
        (192, 168, _) => SpecialPurpose::Private,
        (198, 18..=19, _) => SpecialPurpose::Benchmarking,
        (224..=239, _, _) => SpecialPurpose::Multicast,
        (240..=255, _, _) => SpecialPurpose::ReservedOrBroadcast,
        _ => return None,
    };
    Some(range)
}

fn of_v6(ip: Ipv6Addr) -> Option<SpecialPurpose> {
    if ip.is_unspecified() {
        return Some(SpecialPurpose::Unspecified);
    }
    if ip.is_loopback() {
        return Some(SpecialPurpose::Loopback);
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return of_v4(v4);
    }
    let [s0, s1, s2, s3, s4, s5, _, _] = ip.segments();
    let range = match (s0, s1) {
        // ::/96 (IPv4-compatible, deprecated) and the rest of ::/16.
        (0, _) => SpecialPurpose::ReservedIpv6,
        (0x0064, 0xff9b) if s2 == 0 && s3 == 0 && s4 == 0 && s5 == 0 => {
            let [.., a, b, c, d] = ip.octets();
            return of_v4(Ipv4Addr::new(a, b, c, d));
        }
        (0x0064, 0xff9b) if s2 == 1 => SpecialPurpose::LocalUseNat64,
        (0x0100, 0) if s2 == 0 && s3 == 0 => SpecialPurpose::DiscardOnly,
        (0x2001, 0x0db8) => SpecialPurpose::Documentation,
        (0x2001, 0x0000..=0x01ff) => SpecialPurpose::IetfProtocolAssignment,
        (0x2002, _) => SpecialPurpose::SixToFour,
        (0x3fff, 0x0000..=0x0fff) => SpecialPurpose::Documentation,
        (0x5f00, _) => SpecialPurpose::SegmentRouting,
        (0xfc00..=0xfdff, _) => SpecialPurpose::UniqueLocal,
        (0xfe80..=0xfebf, _) => SpecialPurpose::LinkLocal,
        (0xfec0..=0xfeff, _) => SpecialPurpose::SiteLocal,
        (0xff00..=0xffff, _) => SpecialPurpose::Multicast,
        _ => return None,
    };
    Some(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        IpAddr::V4(s.parse().expect("test address"))
    }

    fn v6(s: &str) -> IpAddr {
        IpAddr::V6(s.parse().expect("test address"))
    }

    fn reason(ip: IpAddr) -> Option<&'static str> {
        SpecialPurpose::of(ip).map(SpecialPurpose::as_str)
    }

    #[test]
    fn cimd_6_5_every_special_purpose_ipv4_range_is_refused() {
        let cases = [
            ("0.0.0.0", "unspecified or this-network address"),
            ("0.1.2.3", "unspecified or this-network address"),
            ("10.0.0.1", "private address"),
            ("10.255.255.255", "private address"),
            ("100.64.0.1", "shared address space"),
            ("100.127.255.254", "shared address space"),
            ("127.0.0.1", "loopback address"),
            ("127.255.0.9", "loopback address"),
            ("169.254.169.254", "link-local address"),
            ("172.16.0.1", "private address"),
            ("172.31.255.255", "private address"),
            ("192.0.0.8", "ietf protocol assignment"),
            ("192.0.2.1", "documentation address"),
            ("198.51.100.7", "documentation address"),
            ("203.0.113.9", "documentation address"),
            ("192.88.99.1", "6to4 relay anycast address"),
            ("192.168.1.1", "private address"),
            ("198.18.0.1", "benchmarking address"),
            ("198.19.255.255", "benchmarking address"),
            ("224.0.0.1", "multicast address"),
            ("239.255.255.250", "multicast address"),
            ("240.0.0.1", "reserved or broadcast address"),
            ("255.255.255.255", "reserved or broadcast address"),
        ];
        for (ip, expected) in cases {
            assert_eq!(reason(v4(ip)), Some(expected), "{ip}");
        }
    }

    #[test]
    fn cimd_6_5_public_ipv4_addresses_and_range_edges_are_allowed() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
        ] {
            assert_eq!(reason(v4(ip)), None, "{ip}");
        }
    }

    #[test]
    fn cimd_6_5_every_special_purpose_ipv6_range_is_refused() {
        let cases = [
            ("::", "unspecified address"),
            ("::1", "loopback address"),
            ("::127.0.0.1", "reserved ipv6 address"),
            ("::ffff:127.0.0.1", "loopback address"),
            ("::ffff:10.1.2.3", "private address"),
            ("::ffff:169.254.169.254", "link-local address"),
            ("::ffff:192.168.0.1", "private address"),
            ("::ffff:0.0.0.0", "unspecified or this-network address"),
            ("64:ff9b::10.0.0.1", "private address"),
            ("64:ff9b::127.0.0.1", "loopback address"),
            ("64:ff9b:1::1", "local-use nat64 address"),
            ("100::1", "discard-only address"),
            ("2001::1", "ietf protocol assignment"),
            ("2001:1ff::1", "ietf protocol assignment"),
            ("2001:db8::1", "documentation address"),
            ("2002:a00:1::1", "6to4 address"),
            ("3fff::1", "documentation address"),
            ("5f00::1", "segment routing address"),
            ("fc00::1", "unique local address"),
            ("fd12:3456::1", "unique local address"),
            ("fe80::1", "link-local address"),
            ("febf::1", "link-local address"),
            ("fec0::1", "site-local address"),
            ("ff02::1", "multicast address"),
            ("ff0e::1", "multicast address"),
        ];
        for (ip, expected) in cases {
            assert_eq!(reason(v6(ip)), Some(expected), "{ip}");
        }
    }

    #[test]
    fn cimd_6_5_public_ipv6_addresses_are_allowed() {
        for ip in [
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
            "2001:200::1",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "4000::1",
            "fbff::1",
        ] {
            assert_eq!(reason(v6(ip)), None, "{ip}");
        }
    }

    #[test]
    fn loopback_and_private_classes_follow_the_address_not_the_reason() {
        for ip in [
            v4("127.0.0.1"),
            v4("127.9.9.9"),
            v6("::1"),
            v6("::ffff:127.0.0.1"),
        ] {
            assert!(is_loopback(ip), "{ip}");
        }
        // A NAT64 address holding 127.x leaves the host: not loopback.
        assert!(!is_loopback(v6("64:ff9b::127.0.0.1")));
        for ip in [
            v4("10.0.0.1"),
            v4("172.16.0.1"),
            v4("192.168.1.1"),
            v4("100.64.0.1"),
            v6("fd00::1"),
            v6("fc00::1"),
            v6("::ffff:10.0.0.1"),
        ] {
            assert!(is_private(ip), "{ip}");
        }
        for ip in [
            v4("169.254.169.254"),
            v6("fe80::1"),
            v4("8.8.8.8"),
            v4("127.0.0.1"),
            v6("64:ff9b::10.0.0.1"),
        ] {
            assert!(!is_private(ip), "{ip}");
        }
    }
}
