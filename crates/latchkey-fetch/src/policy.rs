//! Who chose a URL decides what fetching it may reach: [`Policy`].

use std::net::IpAddr;

use crate::FetchError;
use crate::address::{SpecialPurpose, is_loopback, is_private};

/// The rules a [`Fetcher`](crate::Fetcher) applies to every URL and every
/// resolved address. Built from [`Policy::attacker_chosen`] or
/// [`Policy::operator_configured`]; the two kinds are separate types, so an
/// attacker-chosen policy cannot be given the operator's allowances.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    source: UrlSource,
    loopback: Loopback,
    private_addresses: bool,
}

/// Who chose the URLs a policy is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlSource {
    /// Whoever sends a request chose them: a client ID metadata document URL
    /// (a `client_id`), a `jwks_uri` from a client's registration or document.
    AttackerChosen,
    /// The operator wrote them into the configuration: the issuer a resource
    /// server trusts, its introspection endpoint.
    OperatorConfigured,
}

/// Whether loopback addresses may be fetched from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Loopback {
    Refused,
    Https,
    HttpAndHttps,
}

impl Policy {
    /// For URLs an attacker can choose: `https` only, to ordinary global
    /// unicast addresses only (CIMD draft section 6.5: the URL MUST NOT
    /// resolve to a special-use address of RFC 6890; RFC 9728 section 7.7;
    /// MCP Security Best Practices, "Server-Side Request Forgery").
    pub const fn attacker_chosen() -> AttackerChosen {
        AttackerChosen {
            loopback_http: false,
        }
    }

    /// For URLs the operator configured: `https` to global addresses, and
    /// whatever the operator explicitly adds with the `danger_` methods of
    /// [`OperatorConfigured`] (loopback, plain `http` to loopback, private
    /// networks).
    pub const fn operator_configured() -> OperatorConfigured {
        OperatorConfigured {
            loopback: Loopback::Refused,
            private_addresses: false,
        }
    }

    /// Who chose the URLs this policy is for.
    pub const fn source(&self) -> UrlSource {
        self.source
    }

    /// Whether plain `http` may be used (then only to loopback addresses).
    pub const fn allows_http(&self) -> bool {
        matches!(self.loopback, Loopback::HttpAndHttps)
    }

    /// `Ok` when `ip` may be connected to: a global unicast address, or a
    /// loopback or private address this policy explicitly allows. Anything
    /// else is [`FetchError::AddressRefused`] with its range.
    pub fn vet(&self, ip: IpAddr) -> Result<(), FetchError> {
        let Some(range) = SpecialPurpose::of(ip) else {
            return Ok(());
        };
        let allowed = (is_loopback(ip) && !matches!(self.loopback, Loopback::Refused))
            || (is_private(ip) && self.private_addresses);
        if allowed {
            Ok(())
        } else {
            Err(FetchError::AddressRefused(range))
        }
    }
}

/// An attacker-chosen [`Policy`] being built (see [`Policy::attacker_chosen`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttackerChosen {
    loopback_http: bool,
}

impl AttackerChosen {
    /// Also allows loopback addresses, over plain `http` too. For tests
    /// against a local server, and for a server that itself runs on loopback
    /// (the one exception CIMD draft section 6.5 makes). Never in
    /// production: loopback services become reachable by whoever names a URL.
    pub const fn danger_allow_loopback_http(mut self) -> Self {
        self.loopback_http = true;
        self
    }
}

impl From<AttackerChosen> for Policy {
    fn from(chosen: AttackerChosen) -> Self {
        Self {
            source: UrlSource::AttackerChosen,
            loopback: if chosen.loopback_http {
                Loopback::HttpAndHttps
            } else {
                Loopback::Refused
            },
            private_addresses: false,
        }
    }
}

/// An operator-configured [`Policy`] being built (see
/// [`Policy::operator_configured`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OperatorConfigured {
    loopback: Loopback,
    private_addresses: bool,
}

impl OperatorConfigured {
    /// Also allows loopback addresses, over `https`.
    pub const fn danger_allow_loopback(mut self) -> Self {
        if matches!(self.loopback, Loopback::Refused) {
            self.loopback = Loopback::Https;
        }
        self
    }

    /// Also allows loopback addresses over plain `http` (and `https`): an
    /// issuer such as `latchkey serve` on `127.0.0.1`. Plain `http` to any
    /// other address stays refused.
    pub const fn danger_allow_loopback_http(mut self) -> Self {
        self.loopback = Loopback::HttpAndHttps;
        self
    }

    /// Also allows private network addresses over `https`: RFC 1918,
    /// `100.64.0.0/10` and `fc00::/7` (an issuer inside the operator's own
    /// network). Link-local (cloud metadata), multicast, documentation and the
    /// other special-purpose ranges stay refused.
    pub const fn danger_allow_private_addresses(mut self) -> Self {
        self.private_addresses = true;
        self
    }
}

impl From<OperatorConfigured> for Policy {
    fn from(configured: OperatorConfigured) -> Self {
        Self {
            source: UrlSource::OperatorConfigured,
            loopback: configured.loopback,
            private_addresses: configured.private_addresses,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn cimd_6_5_attacker_chosen_refuses_every_special_address() {
        let strict = Policy::from(Policy::attacker_chosen());
        let loopback = Policy::from(Policy::attacker_chosen().danger_allow_loopback_http());
        for (address, range) in [
            ("127.0.0.1", SpecialPurpose::Loopback),
            ("10.0.0.1", SpecialPurpose::Private),
            ("100.64.0.1", SpecialPurpose::Shared),
            ("169.254.169.254", SpecialPurpose::LinkLocal),
            ("fd00::1", SpecialPurpose::UniqueLocal),
            ("::ffff:10.0.0.1", SpecialPurpose::Private),
            ("::ffff:127.0.0.1", SpecialPurpose::Loopback),
        ] {
            assert_eq!(
                strict.vet(ip(address)),
                Err(FetchError::AddressRefused(range)),
                "{address}"
            );
        }
        // The danger option adds loopback, nothing else.
        for address in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            assert_eq!(loopback.vet(ip(address)), Ok(()), "{address}");
        }
        for address in ["10.0.0.1", "fe80::1", "100.64.0.1"] {
            assert!(loopback.vet(ip(address)).is_err(), "{address}");
        }
        assert_eq!(strict.vet(ip("8.8.8.8")), Ok(()));
        assert!(!strict.allows_http());
        assert!(loopback.allows_http());
    }

    #[test]
    fn operator_configured_allows_only_what_the_operator_adds() {
        let plain = Policy::from(Policy::operator_configured());
        assert_eq!(plain.source(), UrlSource::OperatorConfigured);
        assert!(plain.vet(ip("10.0.0.1")).is_err());
        assert!(plain.vet(ip("127.0.0.1")).is_err());
        let private = Policy::from(Policy::operator_configured().danger_allow_private_addresses());
        for address in [
            "10.1.2.3",
            "172.20.0.5",
            "192.168.0.10",
            "100.64.1.1",
            "fd12::1",
            "::ffff:192.168.0.10",
        ] {
            assert_eq!(private.vet(ip(address)), Ok(()), "{address}");
        }
        // Private is not loopback, link-local or anything else special.
        for (address, range) in [
            ("127.0.0.1", SpecialPurpose::Loopback),
            ("169.254.169.254", SpecialPurpose::LinkLocal),
            ("fe80::1", SpecialPurpose::LinkLocal),
            ("224.0.0.1", SpecialPurpose::Multicast),
            ("0.0.0.0", SpecialPurpose::ThisNetwork),
            ("64:ff9b::10.0.0.1", SpecialPurpose::Private),
        ] {
            assert_eq!(
                private.vet(ip(address)),
                Err(FetchError::AddressRefused(range)),
                "{address}"
            );
        }
        assert!(!private.allows_http());
        let loopback = Policy::from(Policy::operator_configured().danger_allow_loopback());
        assert_eq!(loopback.vet(ip("::1")), Ok(()));
        assert!(!loopback.allows_http());
        let http = Policy::from(
            Policy::operator_configured()
                .danger_allow_loopback_http()
                .danger_allow_loopback(),
        );
        assert!(
            http.allows_http(),
            "allowing https loopback later keeps http"
        );
    }
}
