//! `GeoDatabase`: the optional MaxMind-format database behind the Session
//! model's `countryCode` / `countryName` (feature `device-info`).
//!
//! Appwrite looks the session's IP up in its GeoIP database and renders
//! `countryCode` lower-case (`"us"`) with the country's English name;
//! without a record, `"--"` and `"Unknown"`. So does tokengate, at render
//! time from the stored `ip` (nothing more is stored per session), with a
//! database configured by [`ApiConfig::geoip_database`](super::ApiConfig::geoip_database).
//! Without one every session shows `"--"` / `"Unknown"`.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use maxminddb::{path, Reader};

use crate::error::Error;

use super::{UNKNOWN_CODE, UNKNOWN_NAME};

/// A MaxMind DB (`.mmdb`: GeoLite2 / GeoIP2 Country or City, DB-IP's
/// country databases, …), read whole into memory, that names the country
/// of a session's IP. Records need `country.iso_code`; the English name is
/// `country.names.en` (`"Unknown"` where the record has none).
pub(crate) struct GeoDatabase {
    reader: Reader<Vec<u8>>,
    source: Option<PathBuf>,
}

impl GeoDatabase {
    /// Reads the database at `path`; a missing, unreadable or malformed
    /// file is [`Error::Config`] naming the path.
    pub(crate) fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)
            .map_err(|e| Error::config("geoip_database", format!("GeoIP database {}: {e}", path.display())))?;
        let mut database = GeoDatabase::from_bytes(bytes)
            .map_err(|e| Error::config("geoip_database", format!("GeoIP database {}: {e}", path.display())))?;
        database.source = Some(path.to_owned());
        Ok(database)
    }

    /// A database from its bytes; malformed ones are [`Error::Config`].
    pub(crate) fn from_bytes(bytes: Vec<u8>) -> Result<Self, Error> {
        let reader = Reader::from_source(bytes)
            .map_err(|e| Error::config("geoip_database", format!("not a MaxMind DB file: {e}")))?;
        Ok(GeoDatabase { reader, source: None })
    }

    /// The database's own type, e.g. `GeoLite2-Country`.
    pub(crate) fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// The country of `ip`: its lower-case ISO code and English name, as
    /// the Session model shows them; `None` where the database has no
    /// country for it (private ranges, an IPv6 address in an IPv4-only
    /// database, a record without `country.iso_code`).
    pub(crate) fn country(&self, ip: IpAddr) -> Option<(String, String)> {
        let found = self.reader.lookup(ip).ok()?;
        let code: Option<&str> = found.decode_path(&path!["country", "iso_code"]).ok()?;
        let code = code.filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()))?;
        let name: Option<&str> = found.decode_path(&path!["country", "names", "en"]).ok().flatten();
        let name = name.filter(|n| !n.is_empty()).unwrap_or(UNKNOWN_NAME);
        Some((code.to_ascii_lowercase(), name.to_owned()))
    }
}

impl fmt::Debug for GeoDatabase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeoDatabase")
            .field("source", &self.source)
            .field("database_type", &self.database_type())
            .finish_non_exhaustive()
    }
}

/// `countryCode` and `countryName` of `ip` (the stored session IP, empty
/// when the client's address was unknown).
pub(crate) fn country_fields(database: Option<&GeoDatabase>, ip: &str) -> (String, String) {
    let found = database
        .zip(ip.parse::<IpAddr>().ok())
        .and_then(|(db, ip)| db.country(ip));
    found.unwrap_or_else(|| (UNKNOWN_CODE.to_owned(), UNKNOWN_NAME.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by `tokengate_testing::mmdb` (whose tests check it still
    /// writes these bytes): 81.2.69.0/24 GB "United Kingdom",
    /// 89.160.20.0/24 SE "Sweden", 175.16.199.0/24 CN without a name,
    /// 202.196.224.0/20 without a country.
    pub(crate) const FIXTURE: &[u8] = include_bytes!("fixture.mmdb");

    fn fixture() -> GeoDatabase {
        GeoDatabase::from_bytes(FIXTURE.to_vec()).expect("the fixture is a valid database")
    }

    #[test]
    fn a_known_address_names_its_country() {
        let db = fixture();
        assert_eq!(db.database_type(), "tokengate-test-country");
        let uk = country_fields(Some(&db), "81.2.69.142");
        assert_eq!(uk, ("gb".to_owned(), "United Kingdom".to_owned()));
        let se = country_fields(Some(&db), "89.160.20.128");
        assert_eq!(se, ("se".to_owned(), "Sweden".to_owned()));
        // A record without an English name: the code, and "Unknown".
        let cn = country_fields(Some(&db), "175.16.199.1");
        assert_eq!(cn, ("cn".to_owned(), "Unknown".to_owned()));
    }

    #[test]
    fn unknown_addresses_and_no_database_are_dashes() {
        let db = fixture();
        let unknown = ("--".to_owned(), "Unknown".to_owned());
        for ip in [
            "10.0.0.1",
            "127.0.0.1",
            "81.2.70.1",
            "202.196.224.5",
            "::1",
            "2001:db8::1",
            "",
            "nonsense",
        ] {
            assert_eq!(country_fields(Some(&db), ip), unknown, "{ip}");
        }
        assert_eq!(country_fields(None, "81.2.69.142"), unknown);
        assert_eq!(country_fields(None, ""), unknown);
    }

    #[test]
    fn a_broken_file_is_a_config_error_naming_it() {
        let dir = std::env::temp_dir().join(format!("tokengate-geo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("broken.mmdb");
        std::fs::write(&path, b"\xab\xcd\xefMaxMind.com truncated").unwrap();
        let err = GeoDatabase::open(&path).unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{err:?}");
        assert!(err.to_string().contains("broken.mmdb"), "{err}");
        let good = dir.join("good.mmdb");
        std::fs::write(&good, FIXTURE).unwrap();
        let db = GeoDatabase::open(&good).expect("opens");
        assert!(format!("{db:?}").contains("good.mmdb"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
