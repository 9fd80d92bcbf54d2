//! A minimal MaxMind DB writer for tests: an IPv4 country database (format
//! 2.0, 24-bit records) with `country.iso_code` and `country.names.en`,
//! enough to exercise `ApiConfig::geoip_database` (feature `device-info`)
//! and the `TOKENGATE_GEOIP_DB` setting without shipping a third-party
//! file.
//!
//! ```
//! use tokengate_testing::mmdb;
//! let bytes = mmdb::country_database(&[("81.2.69.0/24", Some(("GB", Some("United Kingdom"))))]);
//! assert!(bytes.ends_with(b"\xab\xcd\xefMaxMind.com") || bytes.len() > 100);
//! ```

use std::net::Ipv4Addr;

/// The `database_type` the written databases carry.
pub const DATABASE_TYPE: &str = "tokengate-test-country";

/// One network of the database: an IPv4 CIDR and its country (ISO code,
/// English name), or `None` for a record without a country.
pub type Entry<'a> = (&'a str, Option<(&'a str, Option<&'a str>)>);

#[derive(Clone, Copy)]
enum Record {
    Empty,
    Node(usize),
    Data(usize),
}

/// The bytes of a `.mmdb` file holding `entries` (non-overlapping IPv4
/// networks). Panics on a malformed CIDR.
pub fn country_database(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut nodes: Vec<[Record; 2]> = vec![[Record::Empty; 2]];
    let mut data = Vec::new();
    for (cidr, country) in entries {
        let (address, prefix) = cidr.split_once('/').expect("a CIDR");
        let address: u32 = address.parse::<Ipv4Addr>().expect("an IPv4 address").into();
        let prefix: u32 = prefix.parse().expect("a prefix length");
        assert!((1..=32).contains(&prefix), "prefix 1..=32: {cidr}");
        let offset = data.len();
        encode_country(&mut data, *country);
        let mut node = 0;
        for depth in 0..prefix {
            let bit = ((address >> (31 - depth)) & 1) as usize;
            if depth + 1 == prefix {
                nodes[node][bit] = Record::Data(offset);
            } else {
                node = match nodes[node][bit] {
                    Record::Node(next) => next,
                    _ => {
                        nodes.push([Record::Empty; 2]);
                        nodes[node][bit] = Record::Node(nodes.len() - 1);
                        nodes.len() - 1
                    }
                };
            }
        }
    }
    let node_count = nodes.len();
    let mut out = Vec::new();
    for node in &nodes {
        for record in node {
            let value = match *record {
                Record::Empty => node_count,
                Record::Node(next) => next,
                Record::Data(offset) => node_count + 16 + offset,
            };
            out.extend_from_slice(&(value as u32).to_be_bytes()[1..]);
        }
    }
    out.extend_from_slice(&[0; 16]);
    out.extend_from_slice(&data);
    out.extend_from_slice(b"\xab\xcd\xefMaxMind.com");
    control(&mut out, 7, 9);
    string(&mut out, "binary_format_major_version");
    unsigned(&mut out, 5, 2);
    string(&mut out, "binary_format_minor_version");
    unsigned(&mut out, 5, 0);
    string(&mut out, "build_epoch");
    unsigned(&mut out, 9, 1_700_000_000);
    string(&mut out, "database_type");
    string(&mut out, DATABASE_TYPE);
    string(&mut out, "description");
    control(&mut out, 7, 1);
    string(&mut out, "en");
    string(&mut out, "tokengate test fixture");
    string(&mut out, "ip_version");
    unsigned(&mut out, 5, 4);
    string(&mut out, "languages");
    control(&mut out, 11, 1);
    string(&mut out, "en");
    string(&mut out, "node_count");
    unsigned(&mut out, 6, node_count as u64);
    string(&mut out, "record_size");
    unsigned(&mut out, 5, 24);
    out
}

fn encode_country(out: &mut Vec<u8>, country: Option<(&str, Option<&str>)>) {
    let Some((code, name)) = country else {
        control(out, 7, 0);
        return;
    };
    control(out, 7, 1);
    string(out, "country");
    control(out, 7, if name.is_some() { 2 } else { 1 });
    string(out, "iso_code");
    string(out, code);
    if let Some(name) = name {
        string(out, "names");
        control(out, 7, 1);
        string(out, "en");
        string(out, name);
    }
}

/// A control byte (and the extended type byte for types above 7).
fn control(out: &mut Vec<u8>, kind: u8, size: usize) {
    let (first, extended) = if kind > 7 {
        (0, Some(kind - 7))
    } else {
        (kind << 5, None)
    };
    let (bits, extra) = match size {
        0..=28 => (size as u8, None),
        29..=284 => (29, Some((size - 29) as u8)),
        _ => panic!("field too long for the test writer: {size}"),
    };
    out.push(first | bits);
    out.extend(extended);
    out.extend(extra);
}

fn string(out: &mut Vec<u8>, text: &str) {
    control(out, 2, text.len());
    out.extend_from_slice(text.as_bytes());
}

/// An unsigned integer of type `kind` (5 uint16, 6 uint32, 9 uint64) in
/// as few bytes as it needs.
fn unsigned(out: &mut Vec<u8>, kind: u8, value: u64) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(out, kind, 8 - skip);
    out.extend_from_slice(&bytes[skip..]);
}

#[cfg(test)]
mod tests {
    /// The fixture the core's GeoIP unit tests read is what this writer
    /// writes (so the two stay one format).
    #[test]
    fn writes_the_cores_fixture() {
        let bytes = super::country_database(&[
            ("81.2.69.0/24", Some(("GB", Some("United Kingdom")))),
            ("89.160.20.0/24", Some(("SE", Some("Sweden")))),
            ("175.16.199.0/24", Some(("CN", None))),
            ("202.196.224.0/20", None),
        ]);
        let fixture = include_bytes!("../../core/src/api/device_info/geo/fixture.mmdb");
        assert_eq!(&bytes[..], &fixture[..]);
    }
}
