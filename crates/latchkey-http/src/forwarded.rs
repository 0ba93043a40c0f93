//! The client address behind trusted proxies: the `X-Forwarded-For` request
//! header (the de facto form RFC 7239 section 1 describes, one address per
//! hop, each proxy appending its peer on the right), believed only as far as
//! the hops that added it are trusted.

use std::net::{IpAddr, SocketAddr};

/// The most `X-Forwarded-For` entries looked at, from the right.
pub const MAX_FORWARDED_HOPS: usize = 16;

/// A trusted proxy entry that is neither an IP address nor a network.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("trusted proxy {entry:?} is not an IP address or network such as 10.0.0.1 or 10.0.0.0/8")]
pub struct TrustedProxyError {
    /// The entry as configured.
    pub entry: String,
}

/// Peers whose `X-Forwarded-For` header is believed: addresses or networks
/// (`10.0.0.0/8`, `fd00::/8`). Empty by default, and then the client address
/// is always the peer address of the connection, whatever headers say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Network>);

impl TrustedProxies {
    /// Trust no proxy.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses `entries`, each an IP address or a network in CIDR notation
    /// (RFC 4632 section 3.1; a prefix of decimal digits, at most 32 for IPv4
    /// and 128 for IPv6).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, TrustedProxyError> {
        entries
            .iter()
            .map(|entry| {
                Network::parse(entry.as_ref()).ok_or_else(|| TrustedProxyError {
                    entry: entry.as_ref().to_owned(),
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `address` is a trusted proxy.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(address))
    }

    /// The client's address for a connection from `peer` carrying the
    /// `X-Forwarded-For` header values `forwarded_for` (in the order they
    /// arrived). Entries are read from the right, each one believed only
    /// while the hop that added it is trusted: the first untrusted hop is the
    /// client. An unreadable entry stops the walk at the trusted hop before
    /// it, so a proxy that sends garbage counts as one client. At most
    /// [`MAX_FORWARDED_HOPS`] entries are looked at.
    pub fn client_address<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.contains(client) {
            return client;
        }
        let entries: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|value| value.split(','))
            .collect();
        for entry in entries.iter().rev().take(MAX_FORWARDED_HOPS) {
            if !self.contains(client) {
                break;
            }
            match parse_forwarded_entry(entry) {
                Some(hop) => client = hop,
                None => break,
            }
        }
        client
    }
}

/// An IP network: an address and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Network {
    address: IpAddr,
    prefix: u32,
}

impl Network {
    fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address.parse().ok()?;
        let bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) if prefix.bytes().all(|b| b.is_ascii_digit()) => prefix.parse().ok()?,
            Some(_) => return None,
            None => bits,
        };
        if prefix > bits {
            return None;
        }
        Some(Self { address, prefix })
    }

    fn contains(&self, address: IpAddr) -> bool {
        match (self.address, address) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = u32::MAX
                    .checked_shl(32u32.saturating_sub(self.prefix))
                    .unwrap_or(0);
                network.to_bits() & mask == address.to_bits() & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = u128::MAX
                    .checked_shl(128u32.saturating_sub(self.prefix))
                    .unwrap_or(0);
                network.to_bits() & mask == address.to_bits() & mask
            }
            _ => false,
        }
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`).
pub(crate) fn parse_forwarded_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|socket| socket.ip()))
        .ok()
        .map(|address| address.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_proxies_are_off_by_default_and_walked_from_the_right() {
        let peer: IpAddr = "10.0.0.5".parse().unwrap();
        let forged = ["203.0.113.9"];
        assert_eq!(TrustedProxies::none().client_address(peer, forged), peer);

        let proxies = TrustedProxies::parse(&["10.0.0.0/8", "::1"]).unwrap();
        assert_eq!(
            proxies.client_address(peer, forged),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        // A client cannot push its own entry past the proxy's: the proxy
        // appends the real peer on the right.
        assert_eq!(
            proxies.client_address(peer, ["198.51.100.1, 203.0.113.9", "10.1.1.1"]),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            proxies.client_address(peer, ["[2001:db8::7]:4711"]),
            "2001:db8::7".parse::<IpAddr>().unwrap()
        );
        // Garbage stops at the last trusted hop; no header leaves the peer.
        assert_eq!(proxies.client_address(peer, ["203.0.113.9, junk"]), peer);
        assert_eq!(proxies.client_address(peer, []), peer);
        // An untrusted peer's header is ignored.
        let outsider: IpAddr = "192.0.2.77".parse().unwrap();
        assert_eq!(proxies.client_address(outsider, forged), outsider);
        assert!(proxies.contains("::ffff:10.2.3.4".parse().unwrap()));
    }

    #[test]
    fn at_most_sixteen_hops_are_walked() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let mut chain = vec!["192.0.2.1".to_owned()];
        chain.extend((0..MAX_FORWARDED_HOPS).map(|i| format!("10.0.1.{i}")));
        let header = chain.join(", ");
        // Sixteen trusted hops from the right: the walk ends on the last of them.
        assert_eq!(
            proxies.client_address(peer, [header.as_str()]),
            "10.0.1.0".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn trusted_proxy_entries_must_be_addresses_or_networks() {
        assert!(
            TrustedProxies::parse(&["192.0.2.1", "10.0.0.0/8", "fd00::/8", "0.0.0.0/0"]).is_ok()
        );
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "proxy.local",
            "",
        ] {
            assert_eq!(
                TrustedProxies::parse(&[bad]),
                Err(TrustedProxyError {
                    entry: bad.to_owned()
                }),
                "{bad}"
            );
        }
        let everything = TrustedProxies::parse(&["0.0.0.0/0"]).unwrap();
        assert!(everything.contains("203.0.113.1".parse().unwrap()));
        assert!(!everything.contains("2001:db8::1".parse().unwrap()));
    }
}
