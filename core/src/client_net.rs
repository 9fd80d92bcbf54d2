//! The rate-limit identity of a client: which networks a request counts
//! in. One holder gets a whole IPv4 address or IPv6 /64 (counting single
//! IPv6 addresses would give every client 2^64 budgets), and the wider
//! prefixes an ISP hands one customer (IPv4 /24, IPv6 /56 and /48).
//!
//! IPv6 addresses that carry an IPv4 address (mapped, 6to4, NAT64,
//! IPv4-compatible, Teredo) count as that IPv4 address: whoever holds one
//! IPv4 address holds all of those too, so they must share its budget.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The address a client is counted as: an IPv4 address embedded in an
/// IPv6 one, else the address itself.
///
/// Only for counting: trust decisions (proxies) take the address as it is,
/// since a 6to4 or Teredo address is not the IPv4 host it names.
fn counted_as(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else { return ip };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let bits = u128::from(v6);
    let low32 = bits as u32;
    let segments = v6.segments();
    let embedded = match segments {
        // 6to4 (RFC 3056): 2002:AABB:CCDD::/48.
        [0x2002, high, low, ..] => Some((u32::from(high) << 16) | u32::from(low)),
        // Teredo (RFC 4380): the client's address, inverted, in the last 32 bits.
        [0x2001, 0, ..] => Some(!low32),
        // NAT64 well-known prefix (RFC 6052): 64:ff9b::/96.
        _ if bits >> 32 == 0x0064_ff9b_0000_0000_0000_0000 => Some(low32),
        // IPv4-compatible (deprecated): ::a.b.c.d, not :: or ::1.
        _ if bits >> 32 == 0 && low32 > 1 => Some(low32),
        _ => None,
    };
    embedded.map_or(ip, |v4| IpAddr::V4(Ipv4Addr::from(v4)))
}

/// The networks a client is counted in, each named by its scope: its own
/// (`client`: an IPv4 address or an IPv6 /64), then the wider ones
/// (`v4_24`; `v6_56`, `v6_48`).
pub(crate) fn client_networks(ip: IpAddr) -> Vec<(&'static str, String)> {
    match counted_as(ip) {
        IpAddr::V4(v4) => {
            let net = u32::from(v4) & 0xffff_ff00;
            vec![
                ("client", v4.to_string()),
                ("v4_24", format!("{}/24", Ipv4Addr::from(net))),
            ]
        }
        IpAddr::V6(v6) => {
            let prefix = |bits: u32| {
                let net = u128::from(v6) & (u128::MAX << (128 - bits));
                format!("{}/{bits}", Ipv6Addr::from(net))
            };
            vec![("client", prefix(64)), ("v6_56", prefix(56)), ("v6_48", prefix(48))]
        }
    }
}

/// The client's own network (the first of [`client_networks`]).
pub(crate) fn client_bucket(ip: IpAddr) -> String {
    client_networks(ip).swap_remove(0).1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(text: &str) -> String {
        client_bucket(text.parse().unwrap())
    }

    #[test]
    fn an_ipv6_client_counts_by_its_64() {
        assert_eq!(bucket("2001:db8:1:2:aaaa::1"), bucket("2001:db8:1:2:bbbb::9"));
        assert_ne!(bucket("2001:db8:1:2:aaaa::1"), bucket("2001:db8:1:3::1"));
        assert_eq!(bucket("::ffff:192.0.2.1"), "192.0.2.1");
    }

    #[test]
    fn ipv6_forms_of_an_ipv4_address_count_as_it() {
        // 192.0.2.1 is c000:0201.
        for form in [
            "::ffff:192.0.2.1",
            "2002:c000:201::1",
            "2002:c000:201:ffff:1:2:3:4",
            "64:ff9b::192.0.2.1",
            "::192.0.2.1",
            // Teredo: server 198.51.100.1, flags, port, client inverted.
            "2001:0:c633:6401:8000:f227:3fff:fdfe",
        ] {
            assert_eq!(bucket(form), "192.0.2.1", "{form}");
            let networks = client_networks(form.parse().unwrap());
            assert_eq!(networks[1], ("v4_24", "192.0.2.0/24".to_owned()), "{form}");
        }
        // Not IPv4 in disguise: the unspecified and loopback addresses, a
        // documentation prefix, a NAT64 look-alike outside the /96.
        assert_eq!(bucket("::1"), "::/64");
        assert_eq!(bucket("::"), "::/64");
        assert_eq!(bucket("2001:db8::c000:201"), "2001:db8::/64");
        assert_eq!(bucket("64:ff9b:1::c000:201"), "64:ff9b:1::/64");
    }
}
