//! The egress policy: which destinations Herald may send to. At save time an integration URL must
//! be http(s) with a DNS name: IP literals in any notation, `localhost` and `*.localhost` are
//! refused unless the operator allows them.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use url::{Host, Url};

/// What the operator allows beyond public DNS names. The default allows nothing more.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EgressConfig {
    /// Host names allowed even if they are `localhost`-like or resolve to private addresses.
    pub allow_hosts: Vec<String>,
    /// Address ranges allowed even though they are not public (e.g. `127.0.0.0/8` in tests).
    pub allow_cidrs: Vec<ipnet::IpNet>,
}

impl EgressConfig {
    /// Whether `ip` is inside an allowed range.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.allow_cidrs.iter().any(|net| net.contains(&ip))
    }

    /// Whether `host` is explicitly allowed.
    pub fn allows_host(&self, host: &str) -> bool {
        self.allow_hosts
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(host))
    }

    /// Checks an integration URL as it is saved; the error says what is wrong.
    pub fn check_url(&self, text: &str) -> Result<Url, String> {
        let url = Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "the URL must be http or https, not {}:",
                url.scheme()
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("the URL must not carry credentials; use the access token secret".into());
        }
        match url.host() {
            None => Err("the URL has no host".into()),
            Some(Host::Domain(name)) => {
                let lower = name.trim_end_matches('.').to_ascii_lowercase();
                if (lower == "localhost" || lower.ends_with(".localhost"))
                    && !self.allows_host(&lower)
                {
                    Err(format!(
                        "{name} is refused: localhost destinations are not allowed (egress.allow_hosts can allow it)"
                    ))
                } else {
                    Ok(url)
                }
            }
            Some(Host::Ipv4(ip)) => self.check_literal(IpAddr::V4(ip), &url),
            Some(Host::Ipv6(ip)) => self.check_literal(IpAddr::V6(ip), &url),
        }
    }

    fn check_literal(&self, ip: IpAddr, url: &Url) -> Result<Url, String> {
        if self.allows_ip(ip) {
            Ok(url.clone())
        } else {
            Err(format!(
                "{} is an IP address ({ip}); use a DNS name (egress.allow_cidrs can allow addresses)",
                url.host_str().unwrap_or_default()
            ))
        }
    }
}

/// IPv4-mapped IPv6 addresses as the IPv4 address they carry.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_literals_in_every_notation_and_localhost_are_refused() {
        let policy = EgressConfig::default();
        for url in [
            "http://127.0.0.1/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://169.254.169.254/",
            "http://10.0.0.1/",
            "http://8.8.8.8/",
            "http://localhost:8080/",
            "http://foo.localhost/",
            "http://LOCALHOST./",
            "ftp://example.com/",
            "http://user:pw@example.com/",
        ] {
            assert!(policy.check_url(url).is_err(), "{url} was accepted");
        }
        policy.check_url("https://hooks.example.com/x").unwrap();
    }

    #[test]
    fn the_operator_can_allow_ranges_and_hosts() {
        let policy = EgressConfig {
            allow_hosts: vec!["localhost".into()],
            allow_cidrs: vec!["127.0.0.0/8".parse().unwrap()],
        };
        policy.check_url("http://127.0.0.1:9000/hook").unwrap();
        policy.check_url("http://[::ffff:127.0.0.1]/").unwrap();
        policy.check_url("http://localhost/").unwrap();
        assert!(policy.check_url("http://10.0.0.1/").is_err());
    }
}
