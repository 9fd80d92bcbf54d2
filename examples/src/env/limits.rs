//! `TOKENGATE_LIMIT_*`: the issuance limits of the passwordless flows.

use std::time::Duration;

use tokengate::policy::FlowLimits;
use tokengate::GateBuilder;

use super::{error, EnvError};

/// The variables of one flow, in the order of [`fields`].
macro_rules! flow_variables {
    ($flow:literal) => {
        [
            concat!("TOKENGATE_LIMIT_", $flow, "_PER_ADDRESS"),
            concat!("TOKENGATE_LIMIT_", $flow, "_PER_CLIENT"),
            concat!("TOKENGATE_LIMIT_", $flow, "_PER_IPV4_24"),
            concat!("TOKENGATE_LIMIT_", $flow, "_PER_IPV6_56"),
            concat!("TOKENGATE_LIMIT_", $flow, "_PER_IPV6_48"),
            concat!("TOKENGATE_LIMIT_", $flow, "_NEW_ADDRESSES"),
            concat!("TOKENGATE_LIMIT_", $flow, "_KNOWN_ADDRESSES"),
        ]
    };
}

const EMAIL: [&str; 7] = flow_variables!("EMAIL");
const MAGIC_URL: [&str; 7] = flow_variables!("MAGIC_URL");
const PHONE: [&str; 7] = flow_variables!("PHONE");

/// A flow's limits, in the order of `flow_variables!`.
fn fields(limits: &mut FlowLimits) -> [&mut u32; 7] {
    [
        &mut limits.per_address,
        &mut limits.per_client,
        &mut limits.per_ipv4_24,
        &mut limits.per_ipv6_56,
        &mut limits.per_ipv6_48,
        &mut limits.new_addresses,
        &mut limits.known_addresses,
    ]
}

/// The issuance limits the variables ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Email OTPs (from [`FlowLimits::EMAIL`]).
    pub email: FlowLimits,
    /// Magic URLs (from [`FlowLimits::MAGIC_URL`]).
    pub magic_url: FlowLimits,
    /// Phone OTPs (from [`FlowLimits::PHONE`]).
    pub phone: FlowLimits,
    /// `TOKENGATE_LIMIT_MIN_INTERVAL_S`, when set.
    pub resend_interval: Option<Duration>,
    /// `TOKENGATE_LIMIT_WINDOW_S`, when set.
    pub window: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            email: FlowLimits::EMAIL,
            magic_url: FlowLimits::MAGIC_URL,
            phone: FlowLimits::PHONE,
            resend_interval: None,
            window: None,
        }
    }
}

impl Limits {
    /// The builder with these limits.
    pub fn apply(&self, builder: GateBuilder) -> GateBuilder {
        let mut builder = builder
            .email_limits(self.email.clone())
            .magic_url_limits(self.magic_url.clone())
            .phone_limits(self.phone.clone());
        if let Some(interval) = self.resend_interval {
            builder = builder.resend_interval(interval);
        }
        if let Some(window) = self.window {
            builder = builder.issue_window(window);
        }
        builder
    }
}

/// The defaults with every variable that is set:
/// `TOKENGATE_LIMIT_<FLOW>_<SCOPE>` (a whole number per window, 0 turns it
/// off), `TOKENGATE_LIMIT_MIN_INTERVAL_S` and `TOKENGATE_LIMIT_WINDOW_S`.
pub(super) fn parse(get: &impl Fn(&str) -> Option<String>) -> Result<Limits, EnvError> {
    let mut limits = Limits::default();
    for (names, flow) in [
        (EMAIL, &mut limits.email),
        (MAGIC_URL, &mut limits.magic_url),
        (PHONE, &mut limits.phone),
    ] {
        for (name, target) in names.into_iter().zip(fields(flow)) {
            let Some(text) = get(name) else { continue };
            *target = text.parse::<u32>().map_err(|_| {
                error(
                    name,
                    format!("must be a whole number of requests per window, got {text:?}"),
                )
            })?;
        }
    }
    for (name, target, range) in [
        (
            "TOKENGATE_LIMIT_MIN_INTERVAL_S",
            &mut limits.resend_interval,
            0..=86_400,
        ),
        ("TOKENGATE_LIMIT_WINDOW_S", &mut limits.window, 1..=86_400),
    ] {
        if let Some(text) = get(name) {
            let seconds = text
                .parse::<u64>()
                .ok()
                .filter(|s| range.contains(s))
                .ok_or_else(|| error(name, format!("must be whole seconds in {range:?}, got {text:?}")))?;
            *target = Some(Duration::from_secs(seconds));
        }
    }
    Ok(limits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_vars(vars: &[(&str, &str)]) -> Result<Limits, EnvError> {
        parse(&|name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn every_limit_has_a_variable() {
        let limits = parse_vars(&[
            ("TOKENGATE_LIMIT_EMAIL_PER_ADDRESS", "3"),
            ("TOKENGATE_LIMIT_MAGIC_URL_PER_IPV6_56", "7"),
            ("TOKENGATE_LIMIT_PHONE_KNOWN_ADDRESSES", "0"),
            ("TOKENGATE_LIMIT_WINDOW_S", "60"),
        ])
        .unwrap();
        assert_eq!(limits.email.per_address, 3);
        assert_eq!(limits.magic_url.per_ipv6_56, 7);
        assert_eq!(limits.phone.known_addresses, 0);
        assert_eq!(limits.window, Some(Duration::from_secs(60)));
        assert_eq!(limits.email.per_client, FlowLimits::EMAIL.per_client);
        let bad = parse_vars(&[("TOKENGATE_LIMIT_EMAIL_PER_IPV4_24", "-1")]).unwrap_err();
        assert_eq!(bad.variable, "TOKENGATE_LIMIT_EMAIL_PER_IPV4_24");
        assert!(parse_vars(&[("TOKENGATE_LIMIT_WINDOW_S", "0")]).is_err());
    }
}
