//! The Session model's device and country fields, derived when a session is
//! rendered from the `ip` and User-Agent every session stores (nothing more
//! is stored): the User-Agent parsed as Appwrite's DeviceDetector names it
//! ([`ua`]), the country from an optional MaxMind-format database ([`geo`]),
//! both behind the feature `device-info`. Without it the device fields are
//! empty strings and the country `--` / `Unknown`, as Appwrite renders what
//! it does not know.

#[cfg(feature = "device-info")]
pub(crate) mod geo;
#[cfg(feature = "device-info")]
mod ua;

use std::sync::Arc;

/// The Session model's device fields, as Appwrite names them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DeviceFields {
    pub(crate) os_code: String,
    pub(crate) os_name: String,
    pub(crate) os_version: String,
    pub(crate) client_type: String,
    pub(crate) client_code: String,
    pub(crate) client_name: String,
    pub(crate) client_version: String,
    pub(crate) client_engine: String,
    pub(crate) client_engine_version: String,
    pub(crate) device_name: String,
    pub(crate) device_brand: String,
    pub(crate) device_model: String,
}

/// The device fields of one User-Agent (empty fields for an empty one).
pub(crate) fn describe(user_agent: &str) -> Arc<DeviceFields> {
    #[cfg(feature = "device-info")]
    return ua::describe(user_agent);
    #[cfg(not(feature = "device-info"))]
    {
        static UNKNOWN: std::sync::OnceLock<Arc<DeviceFields>> = std::sync::OnceLock::new();
        let _ = user_agent;
        UNKNOWN.get_or_init(Default::default).clone()
    }
}

/// `countryCode` when the country is not known (Appwrite's).
pub(crate) const UNKNOWN_CODE: &str = "--";
/// `countryName` when the country is not known (Appwrite's English text).
pub(crate) const UNKNOWN_NAME: &str = "Unknown";
