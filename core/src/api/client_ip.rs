//! Who the client is: the peer address, or behind trusted proxies the
//! address they forwarded.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use http::HeaderMap;

use crate::model::canonical_ip;

/// An IP network in CIDR notation (`10.0.0.0/8`, `fd00::/8`, or a single
/// address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpNet {
    network: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Whether `ip` lies in this network (IPv4-mapped IPv6 counts as IPv4).
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical_ip(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                mask_bits(u32::from(net).into(), 32, self.prefix) == mask_bits(u32::from(ip).into(), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                mask_bits(u128::from(net), 128, self.prefix) == mask_bits(u128::from(ip), 128, self.prefix)
            }
            _ => false,
        }
    }
}

fn mask_bits(value: u128, width: u8, prefix: u8) -> u128 {
    if prefix == 0 {
        return 0;
    }
    let keep = u128::MAX << (u32::from(width - prefix));
    let keep = if width == 32 { keep & u128::from(u32::MAX) } else { keep };
    value & keep
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network = canonical_ip(
            address
                .parse::<IpAddr>()
                .map_err(|_| format!("not an IP network: {text:?}"))?,
        );
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => width,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= width)
                .ok_or_else(|| format!("not an IP network: {text:?}"))?,
        };
        Ok(IpNet { network, prefix })
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Which header the trusted proxies write. Exactly one is read: a proxy
/// that writes `X-Forwarded-For` passes a client's own `Forwarded` through
/// untouched, so reading both would let the client choose its address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum ForwardedHeader {
    /// `X-Forwarded-For` (nginx, HAProxy, most load balancers): the default.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=`.
    Forwarded,
}

/// The proxies whose forwarding header is believed. Empty (the default):
/// the headers are ignored and the peer is the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TrustedProxies {
    networks: Vec<IpNet>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    /// Parses comma-separated CIDRs.
    ///
    pub(crate) fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(Self::new)
    }

    /// From networks, reading `X-Forwarded-For`.
    pub(crate) fn new(networks: impl IntoIterator<Item = IpNet>) -> Self {
        TrustedProxies {
            networks: networks.into_iter().collect(),
            header: ForwardedHeader::default(),
        }
    }

    /// The same proxies, read through `header` instead.
    ///
    pub(crate) fn header(mut self, header: ForwardedHeader) -> Self {
        self.header = header;
        self
    }

    /// Whether `ip` is a trusted proxy.
    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        self.networks.iter().any(|net| net.contains(ip))
    }

    /// The client of a request that arrived from `peer`. Only when the peer
    /// is a trusted proxy is the forwarding header read (the configured
    /// one, never the other): the client is then its rightmost address
    /// that is not itself a trusted proxy; everything left of it was
    /// written by the client and proves nothing. Each hop is read on its
    /// own, from the raw bytes: an unreadable one (not an address, bytes
    /// outside ASCII, an obfuscated `for=_hidden` or `unknown`) ends the
    /// walk there, so the client is the last readable hop right of it, or
    /// the last trusted hop when there is none.
    ///
    pub(crate) fn client(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let peer = peer.map(canonical_ip);
        let Some(proxy) = peer.filter(|p| self.contains(*p)) else {
            return peer;
        };
        let hops = match self.header {
            ForwardedHeader::XForwardedFor => x_forwarded_for(headers),
            ForwardedHeader::Forwarded => forwarded_for(headers),
        };
        let Some(hops) = hops else { return Some(proxy) };
        let mut client = proxy;
        for hop in hops.iter().rev() {
            let Some(hop) = *hop else { break };
            client = canonical_ip(hop);
            if !self.contains(client) {
                break;
            }
        }
        Some(client)
    }
}

/// Every `X-Forwarded-For` address in order; `None` if absent. Each hop is
/// read from the raw bytes: a hop that is not a readable address (bytes
/// outside ASCII included) is `None` and stops the walk there, while the
/// hops the trusted proxies appended to its right stay readable and decide.
fn x_forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        hops.extend(value.as_bytes().split(|b| *b == b',').map(parse_node));
    }
    (!hops.is_empty()).then_some(hops)
}

/// Every `for=` of RFC 7239 `Forwarded`, in order, each element read from
/// the raw bytes as in [`x_forwarded_for`].
fn forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    for value in headers.get_all(http::header::FORWARDED) {
        for element in value.as_bytes().split(|b| *b == b',') {
            let node = element.split(|b| *b == b';').find_map(|pair| {
                let at = pair.iter().position(|b| *b == b'=')?;
                let (name, value) = (&pair[..at], &pair[at + 1..]);
                name.trim_ascii().eq_ignore_ascii_case(b"for").then_some(value)
            });
            hops.push(node.and_then(parse_node));
        }
    }
    (!hops.is_empty()).then_some(hops)
}

/// One node: `1.2.3.4`, `1.2.3.4:80`, `"[2001:db8::1]:443"`, `2001:db8::1`,
/// surrounded by optional whitespace; `None` for anything else.
fn parse_node(node: &[u8]) -> Option<IpAddr> {
    let node = std::str::from_utf8(node.trim_ascii()).ok()?;
    let node = node.trim_matches('"');
    if let Ok(ip) = node.parse() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let (host, port) = node.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn only_trusted_peers_are_believed() {
        let proxies = TrustedProxies::parse("127.0.0.1/32,10.0.0.0/8").unwrap();
        let spoof = headers(&[("x-forwarded-for", "1.1.1.1")]);
        assert_eq!(proxies.client(ip("8.8.8.8"), &spoof), ip("8.8.8.8"));
        assert_eq!(proxies.client(ip("127.0.0.1"), &spoof), ip("1.1.1.1"));
        assert_eq!(
            TrustedProxies::default().client(ip("127.0.0.1"), &spoof),
            ip("127.0.0.1")
        );
        // Rightmost untrusted hop wins; the client's own prefix is ignored.
        let chain = headers(&[("x-forwarded-for", "9.9.9.9, 2.2.2.2"), ("x-forwarded-for", "10.1.1.1")]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &chain), ip("2.2.2.2"));
        // All hops trusted: the leftmost one.
        let inner = headers(&[("x-forwarded-for", "10.2.2.2, 10.1.1.1")]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &inner), ip("10.2.2.2"));
        // Garbage stops the walk at the last good hop.
        let garbage = headers(&[("x-forwarded-for", "3.3.3.3, nonsense, 10.1.1.1")]);
        assert_eq!(proxies.client(ip("10.0.0.1"), &garbage), ip("10.1.1.1"));
    }

    #[test]
    fn an_unreadable_hop_ends_the_walk_without_hiding_the_client() {
        // A client's own `\xff`, which nginx forwards as `\xff, <client>`:
        // the client is still the hop its proxy appended, not the proxy.
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        for raw in [
            &b"\xff, 203.0.113.5"[..],
            b"\xff,203.0.113.5",
            b"1.1.1.1 \xc3\xa9, 203.0.113.5",
            b"\x80\x81, 203.0.113.5, 10.0.0.9",
        ] {
            let mut h = HeaderMap::new();
            h.insert("x-forwarded-for", HeaderValue::from_bytes(raw).unwrap());
            assert_eq!(proxies.client(ip("10.0.0.1"), &h), ip("203.0.113.5"), "{raw:?}");
        }
        let rfc = proxies.clone().header(ForwardedHeader::Forwarded);
        let mut h = HeaderMap::new();
        h.insert(
            "forwarded",
            HeaderValue::from_bytes(b"for=\xff, for=203.0.113.5").unwrap(),
        );
        assert_eq!(rfc.client(ip("10.0.0.1"), &h), ip("203.0.113.5"));
        // Only unreadable hops: the walk ends at the trusted proxy.
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_bytes(b"\xff").unwrap());
        assert_eq!(proxies.client(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn only_the_configured_header_counts() {
        let proxies = TrustedProxies::parse("127.0.0.1").unwrap();
        // A client's own `Forwarded`, passed through by an XFF proxy.
        let h = headers(&[("x-forwarded-for", "1.1.1.1"), ("forwarded", "for=9.9.9.9")]);
        assert_eq!(proxies.client(ip("127.0.0.1"), &h), ip("1.1.1.1"));
        let rfc = proxies.header(ForwardedHeader::Forwarded);
        assert_eq!(rfc.client(ip("127.0.0.1"), &h), ip("9.9.9.9"));
    }

    #[test]
    fn forwarded_header() {
        let proxies = TrustedProxies::parse("127.0.0.1")
            .unwrap()
            .header(ForwardedHeader::Forwarded);
        let h = headers(&[(
            "forwarded",
            "for=9.9.9.9, for=\"[2001:db8::7]:443\";proto=https, for=127.0.0.1:5555",
        )]);
        assert_eq!(proxies.client(ip("127.0.0.1"), &h), ip("2001:db8::7"));
        let obfuscated = headers(&[("forwarded", "for=_hidden"), ("x-forwarded-for", "4.4.4.4")]);
        assert_eq!(proxies.client(ip("127.0.0.1"), &obfuscated), ip("127.0.0.1"));
        // Without its header the request is the proxy's own.
        let xff_only = headers(&[("x-forwarded-for", "4.4.4.4")]);
        assert_eq!(proxies.client(ip("127.0.0.1"), &xff_only), ip("127.0.0.1"));
    }

    #[test]
    fn networks() {
        let v6: IpNet = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:ffff::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("1.2.3.4".parse().unwrap()));
        assert!(!all.contains("::1".parse().unwrap()));
        let mapped: IpNet = "127.0.0.0/8".parse().unwrap();
        assert!(mapped.contains("::ffff:127.0.0.1".parse().unwrap()));
        for bad in ["", "1.2.3.4/", "1.2.3.4/x", "::/129", "host/8"] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }
}
