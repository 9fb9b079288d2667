//! Who is calling, as far as throttling is concerned: one key per party that
//! can cheaply change its address within a block, not per raw address.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The client a sign-in or sign-up is attributed to for throttling.
///
/// An IPv4 address counts as itself. An IPv6 address counts as its /64
/// prefix: a home or ISP customer is routinely given a whole /64 and can pick
/// a fresh address in it for every request, so per-address limits would be
/// no limit at all. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, what a
/// dual-stack socket reports for IPv4 peers) counts as the IPv4 address, so
/// the same peer never gets two budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(Inner);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Inner {
    V4(Ipv4Addr),
    /// The upper 64 bits of the address.
    V6Prefix(u64),
    Unknown,
}

impl ClientKey {
    /// The key for a peer at `ip`.
    pub fn from_ip(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self(Inner::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(Inner::V4(v4)),
                None => Self(Inner::V6Prefix((v6.to_bits() >> 64) as u64)),
            },
        }
    }

    /// For callers whose address is not known (a server run without connect
    /// info, as in router tests). All such callers share this one key, so
    /// the per-client limits still hold for them rather than being skipped:
    /// failing to learn the address must not be a way around the limits.
    pub fn unknown() -> Self {
        Self(Inner::Unknown)
    }

    /// Whether this is [`ClientKey::unknown`].
    pub fn is_unknown(&self) -> bool {
        self.0 == Inner::Unknown
    }
}

impl From<IpAddr> for ClientKey {
    fn from(ip: IpAddr) -> Self {
        Self::from_ip(ip)
    }
}

impl From<Ipv4Addr> for ClientKey {
    fn from(ip: Ipv4Addr) -> Self {
        Self::from_ip(IpAddr::V4(ip))
    }
}

impl From<Ipv6Addr> for ClientKey {
    fn from(ip: Ipv6Addr) -> Self {
        Self::from_ip(IpAddr::V6(ip))
    }
}

/// `203.0.113.7`, `2001:db8:1:2::/64` or `unknown`: for logs.
impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Inner::V4(v4) => write!(f, "{v4}"),
            Inner::V6Prefix(prefix) => {
                write!(f, "{}/64", Ipv6Addr::from_bits(u128::from(prefix) << 64))
            }
            Inner::Unknown => f.write_str("unknown"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn key(ip: &str) -> ClientKey {
        ClientKey::from_ip(ip.parse().unwrap())
    }

    #[test]
    fn ipv4_is_the_address() {
        assert_eq!(key("203.0.113.7").to_string(), "203.0.113.7");
        assert_ne!(key("203.0.113.7"), key("203.0.113.8"));
    }

    #[test]
    fn ipv6_is_grouped_by_its_64_prefix() {
        let a = key("2001:db8:1:2:aaaa:bbbb:cccc:dddd");
        let b = key("2001:db8:1:2::1");
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "2001:db8:1:2::/64");
        assert_ne!(a, key("2001:db8:1:3::1"));
        assert_eq!(key("2001:db8::1").to_string(), "2001:db8::/64");
        assert_eq!(key("::1").to_string(), "::/64");
    }

    #[test]
    fn ipv4_mapped_ipv6_is_the_ipv4_address() {
        let mapped = key("::ffff:203.0.113.7");
        assert_eq!(mapped, key("203.0.113.7"));
        assert_eq!(mapped.to_string(), "203.0.113.7");
        // Only the mapped form: another peer in ::/64 is not that IPv4 peer.
        assert_ne!(key("::ffff:203.0.113.8"), key("::ffff:203.0.113.7"));
    }

    #[test]
    fn unknown_is_its_own_key() {
        let unknown = ClientKey::unknown();
        assert!(unknown.is_unknown());
        assert!(!key("203.0.113.7").is_unknown());
        assert_eq!(unknown, ClientKey::unknown());
        assert_ne!(unknown, key("0.0.0.0"));
        assert_ne!(unknown, key("::"));
        assert_eq!(unknown.to_string(), "unknown");
    }

    #[test]
    fn conversions_agree() {
        let v4: Ipv4Addr = "198.51.100.1".parse().unwrap();
        let v6: Ipv6Addr = "2001:db8::7".parse().unwrap();
        assert_eq!(ClientKey::from(v4), key("198.51.100.1"));
        assert_eq!(ClientKey::from(v6), key("2001:db8::7"));
        assert_eq!(ClientKey::from(IpAddr::V6(v6)), key("2001:db8::7"));
    }
}
