//! The egress policy: which destinations Herald may send to. At save time an integration URL must
//! be http(s) with a DNS name: IP literals in any notation, `localhost` and `*.localhost` are
//! refused unless the operator allows them. At send time the host resolves names itself and only
//! connects to addresses that are public (or that the operator allowed).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
    /// Names resolved to fixed addresses instead of through DNS (like `curl --resolve`); the
    /// addresses are vetted like any others.
    pub resolve: BTreeMap<String, Vec<IpAddr>>,
}

impl EgressConfig {
    /// Whether `ip` is inside an allowed range.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.allow_cidrs.iter().any(|net| net.contains(&ip))
    }

    /// Whether the host may connect to `ip` for a request to `host`.
    pub fn permits(&self, host: &str, ip: IpAddr) -> bool {
        self.allows_host(host) || self.allows_ip(ip) || is_public(ip)
    }

    /// Refuses `localhost` and `*.localhost` names (unless allowed) before any lookup.
    pub fn check_name(&self, host: &str) -> Result<(), String> {
        let lower = host.trim_end_matches('.').to_ascii_lowercase();
        if (lower == "localhost" || lower.ends_with(".localhost")) && !self.allows_host(&lower) {
            return Err(format!("{host} is a localhost name"));
        }
        Ok(())
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

/// Whether an address is public: not loopback, private, link-local (cloud metadata included),
/// CGNAT, multicast, unspecified, documentation, benchmarking, reserved, nor an IPv6 form that
/// embeds such an IPv4 address (IPv4-mapped, IPv4-compatible, 6to4, NAT64).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_public_v4(v4),
            None => !v6.is_multicast() && ip_network::Ipv6Network::from(v6).is_global(),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    !ip.is_multicast() && ip_network::Ipv4Network::from(ip).is_global()
}

/// The IPv4 address inside the IPv6 forms that carry one.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible, deprecated; `::` and `::1` excluded).
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(low),
        [0, 0, 0, 0, 0, 0, _, _] if u32::from(low) > 1 => Some(low),
        // 64:ff9b::/96 (NAT64 well-known) and 64:ff9b:1::/48 (local-use NAT64).
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] | [0x64, 0xff9b, 1, ..] => Some(low),
        // 2002:AABB:CCDD::/48 (6to4).
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new(
            (hi >> 8) as u8,
            hi as u8,
            (lo >> 8) as u8,
            lo as u8,
        )),
        _ => None,
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
    fn non_public_addresses_in_every_form() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.1",
            "239.1.2.3",
            "255.255.255.255",
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "ff0e::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b:1::7f00:1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::1",
            "2001:db8::1",
            "fd00:ec2::254",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} counted as public");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip} counted as not public");
        }
    }

    #[test]
    fn the_operator_can_allow_ranges_and_hosts() {
        let policy = EgressConfig {
            allow_hosts: vec!["localhost".into()],
            allow_cidrs: vec!["127.0.0.0/8".parse().unwrap()],
            resolve: BTreeMap::new(),
        };
        policy.check_url("http://127.0.0.1:9000/hook").unwrap();
        policy.check_url("http://[::ffff:127.0.0.1]/").unwrap();
        policy.check_url("http://localhost/").unwrap();
        assert!(policy.check_url("http://10.0.0.1/").is_err());
    }
}
