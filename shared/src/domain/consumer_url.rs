//! Consumer URLs are hostile input: a platform could point a consumer at this network (the
//! instance metadata service, a private address, loopback) and read what answers in the
//! delivery log. [`ConsumerUrl::parse`] refuses, before any I/O, what is not `https`, carries
//! userinfo, or names a host that can only be internal; [`check_addresses`] refuses a resolved
//! host when any of its addresses is not public unicast, and runs again at each delivery.
//! Plain `http` to `127.0.0.1` is allowed only under [`Transport::LoopbackHttp`], the dev stack's
//! setting.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Longest consumer URL accepted, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

/// Where a consumer may be: public https hosts only (deployed), or also plain http to
/// `127.0.0.1` (the dev stack's receiver and tests; never set in `template.yaml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// https to public addresses only.
    #[default]
    PublicHttps,
    /// Also http (or https) to `127.0.0.1`.
    LoopbackHttp,
}

/// Why a URL or an address was refused: the message a platform reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(String);

impl Refused {
    fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}

/// A consumer URL that passed [`ConsumerUrl::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerUrl(Url);

/// The host a delivery connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A name to resolve (lowercase, no trailing dot).
    Name(String),
    /// An address literal, already checked.
    Address(IpAddr),
}

/// Host suffixes that only ever name something internal.
const INTERNAL_SUFFIXES: [&str; 6] = ["localhost", "local", "internal", "localdomain", "home.arpa", "lan"];

impl ConsumerUrl {
    /// Checks `text` as a consumer URL under `transport`, before any I/O.
    pub fn parse(text: &str, transport: Transport) -> Result<Self, Refused> {
        if text.is_empty() {
            return Err(Refused::new("url is required"));
        }
        if text.len() > MAX_URL_BYTES {
            return Err(Refused::new(format!("url must be at most {MAX_URL_BYTES} bytes")));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Refused::new("url must not contain whitespace or control characters"));
        }
        let url = Url::parse(text).map_err(|e| Refused::new(format!("url is not a valid absolute URL ({e})")))?;
        let loopback_allowed = transport == Transport::LoopbackHttp && is_dev_loopback(&url);
        match url.scheme() {
            "https" => {}
            "http" if loopback_allowed => {}
            _ => return Err(Refused::new("url must be https")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused::new("url must not contain a user name or password"));
        }
        if url.fragment().is_some() {
            return Err(Refused::new("url must not contain a fragment"));
        }
        match url.host() {
            None => return Err(Refused::new("url must name a host")),
            Some(Host::Domain(name)) => check_name(name)?,
            Some(Host::Ipv4(ip)) if !loopback_allowed => check_address(IpAddr::V4(ip))?,
            Some(Host::Ipv6(ip)) => check_address(IpAddr::V6(ip))?,
            Some(Host::Ipv4(_)) => {}
        }
        Ok(Self(url))
    }

    /// The URL.
    pub fn as_url(&self) -> &Url {
        &self.0
    }

    /// The host a delivery resolves or connects to.
    pub fn target(&self) -> Target {
        match self.0.host() {
            Some(Host::Ipv4(ip)) => Target::Address(IpAddr::V4(ip)),
            Some(Host::Ipv6(ip)) => Target::Address(IpAddr::V6(ip)),
            Some(Host::Domain(name)) => Target::Name(name.trim_end_matches('.').to_string()),
            None => unreachable!("parse requires a host"),
        }
    }

    /// The port a delivery connects to.
    pub fn port(&self) -> u16 {
        self.0.port_or_known_default().unwrap_or(443)
    }
}

impl std::fmt::Display for ConsumerUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// `127.0.0.1`, the only host the dev stack's setting opens.
fn is_dev_loopback(url: &Url) -> bool {
    url.host() == Some(Host::Ipv4(Ipv4Addr::LOCALHOST))
}

/// A host name that is not an address literal (the URL parser has turned every IPv4 form,
/// decimal, octal or hex, into an address already).
fn check_name(name: &str) -> Result<(), Refused> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.ends_with('.') {
        return Err(Refused::new("url's host is not a valid name"));
    }
    if INTERNAL_SUFFIXES.iter().any(|suffix| name == *suffix || name.ends_with(&format!(".{suffix}"))) {
        return Err(Refused::new("url's host names an internal network"));
    }
    if !name.contains('.') {
        return Err(Refused::new("url's host must be a fully qualified public name"));
    }
    Ok(())
}

/// Refuses `ip` unless it is a public unicast address.
pub fn check_address(ip: IpAddr) -> Result<(), Refused> {
    match refusal(ip) {
        None => Ok(()),
        Some(kind) => Err(Refused::new(format!("url's host is {kind} address, not a public one"))),
    }
}

/// Refuses a resolved host unless it has addresses and every one is public unicast (one bad
/// answer among good ones is still refused: the connection could pick it). Under
/// [`Transport::LoopbackHttp`], `127.0.0.1` passes too.
pub fn check_addresses(addresses: &[IpAddr], transport: Transport) -> Result<(), Refused> {
    if addresses.is_empty() {
        return Err(Refused::new("url's host has no address"));
    }
    for ip in addresses {
        if transport == Transport::LoopbackHttp && *ip == IpAddr::V4(Ipv4Addr::LOCALHOST) {
            continue;
        }
        check_address(*ip)?;
    }
    Ok(())
}

/// What kind of non-public address `ip` is, or `None` for a public unicast one.
pub fn refusal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refusal_v4(v4),
        IpAddr::V6(v6) => refusal_v6(v6),
    }
}

/// The cloud metadata services' addresses (AWS, ECS, GCP, Azure; Alibaba's is in 100.64/10).
const METADATA_V4: [Ipv4Addr; 2] = [Ipv4Addr::new(169, 254, 169, 254), Ipv4Addr::new(169, 254, 170, 2)];

fn refusal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match () {
        _ if METADATA_V4.contains(&ip) || ip == Ipv4Addr::new(100, 100, 100, 200) => "a metadata service's",
        _ if a == 0 => "an unspecified (this network)",
        _ if ip.is_loopback() => "a loopback",
        _ if ip.is_private() => "a private",
        _ if ip.is_link_local() => "a link-local",
        _ if a == 100 && (64..128).contains(&b) => "a shared (carrier-grade NAT)",
        _ if a == 192 && b == 0 && c == 0 => "an IETF protocol",
        _ if ip.is_documentation() => "a documentation",
        _ if a == 198 && (b == 18 || b == 19) => "a benchmarking",
        _ if a == 192 && b == 88 && c == 99 => "a 6to4 relay",
        _ if ip.is_multicast() => "a multicast",
        _ if a >= 240 => "a reserved",
        _ => return None,
    })
}

/// AWS's IPv6 instance metadata address.
const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254);

fn refusal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    // An IPv4 address inside an IPv6 one is judged as that IPv4 address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refusal_v4(v4);
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32 bits.
        return refusal_v4(Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8));
    }
    if s[0] == 0x2002 {
        // 6to4 (2002::/16) reaches the IPv4 address in bits 16 to 48.
        return refusal_v4(Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8));
    }
    Some(match () {
        _ if ip == METADATA_V6 => "a metadata service's",
        _ if ip.is_unspecified() => "an unspecified",
        _ if ip.is_loopback() => "a loopback",
        _ if s[0..6] == [0, 0, 0, 0, 0, 0] => "an IPv4-compatible (deprecated)",
        _ if ip.is_multicast() => "a multicast",
        _ if s[0] & 0xffc0 == 0xfe80 => "a link-local",
        _ if s[0] & 0xffc0 == 0xfec0 => "a site-local",
        _ if s[0] & 0xfe00 == 0xfc00 => "a unique-local (private)",
        _ if s[0] == 0x2001 && s[1] == 0x0db8 || s[0] & 0xfff0 == 0x3ff0 => "a documentation",
        _ if s[0] == 0x2001 && s[1] < 0x0200 => "an IETF protocol (Teredo, ORCHID, benchmarking)",
        _ if s[0] == 0x64 && s[1] == 0xff9b => "a local NAT64",
        _ if s[0] == 0x0100 && s[1..4] == [0, 0, 0] => "a discard",
        // Outside 2000::/3 nothing is allocated for global unicast.
        _ if s[0] & 0xe000 != 0x2000 => "a reserved",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> bool {
        ConsumerUrl::parse(text, Transport::PublicHttps).is_err()
    }

    #[test]
    fn accepts_public_https_urls() {
        for text in [
            "https://example.com/webhooks",
            "https://hooks.example.com:8443/codat?x=1",
            "https://93.184.215.14/hook",
            "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/hook",
            "https://example.com./hook",
        ] {
            let url = ConsumerUrl::parse(text, Transport::PublicHttps).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(url.port() == 443 || url.port() == 8443);
        }
        let url = ConsumerUrl::parse("https://Example.COM./x", Transport::PublicHttps).expect("url");
        assert_eq!(url.target(), Target::Name("example.com".into()));
    }

    /// The hostile corpus: every one refused before any I/O.
    #[test]
    fn refuses_hostile_urls() {
        let corpus = [
            "",
            "example.com/hook",
            "//example.com/hook",
            "http://example.com/hook",
            "ftp://example.com/hook",
            "file:///etc/passwd",
            "gopher://example.com/",
            "javascript:alert(1)",
            "data:text/plain,hi",
            "https://user:pass@example.com/hook",
            "https://user@example.com/hook",
            "https://example.com@127.0.0.1/hook",
            "https://example.com/hook#frag",
            " https://example.com/hook",
            "https://example.com/ho ok",
            "https://exa\tmple.com/",
            "https://localhost/hook",
            "https://LOCALHOST./hook",
            "https://api.localhost/hook",
            "https://printer.local/hook",
            "https://metadata.google.internal/computeMetadata/v1/",
            "https://router.lan/",
            "https://intranet/hook",
            "https://127.0.0.1/hook",
            "https://127.1/hook",
            "https://2130706433/hook",
            "https://0x7f000001/hook",
            "https://0177.0.0.1/hook",
            "https://0x7f.0.0.1/hook",
            "https://0.0.0.0/hook",
            "https://0/hook",
            "https://10.0.0.1/hook",
            "https://172.16.5.4/hook",
            "https://192.168.1.1/hook",
            "https://169.254.169.254/latest/meta-data/",
            "https://169.254.170.2/v2/credentials",
            "https://100.100.100.200/latest/meta-data",
            "https://100.64.0.1/",
            "https://192.0.0.8/",
            "https://192.0.2.1/",
            "https://198.18.0.1/",
            "https://224.0.0.1/",
            "https://255.255.255.255/",
            "https://240.0.0.1/",
            "https://[::1]/hook",
            "https://[::]/hook",
            "https://[::ffff:127.0.0.1]/hook",
            "https://[::ffff:169.254.169.254]/hook",
            "https://[::127.0.0.1]/hook",
            "https://[fe80::1]/hook",
            "https://[fc00::1]/hook",
            "https://[fd00:ec2::254]/latest/meta-data/",
            "https://[ff02::1]/hook",
            "https://[2001:db8::1]/hook",
            "https://[64:ff9b::a9fe:a9fe]/hook",
            "https://[2002:7f00:1::1]/hook",
            "https://[2001::1]/hook",
            "https://[fec0::1]/hook",
            "https://[100::1]/hook",
            "https://[4000::1]/hook",
        ];
        for text in corpus {
            assert!(refused(text), "{text:?} was accepted");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES));
        assert!(refused(&long));
    }

    #[test]
    fn loopback_http_only_under_the_dev_setting() {
        let dev = Transport::LoopbackHttp;
        assert!(ConsumerUrl::parse("http://127.0.0.1:8123/hook", dev).is_ok());
        assert!(ConsumerUrl::parse("https://127.0.0.1:8123/hook", dev).is_ok());
        assert!(refused("http://127.0.0.1:8123/hook"));
        // The setting opens 127.0.0.1 alone: not other loopback forms, names or private hosts.
        for text in
            ["http://localhost:8123/", "http://127.0.0.2/", "http://[::1]/", "http://10.0.0.1/", "http://example.com/"]
        {
            assert!(ConsumerUrl::parse(text, dev).is_err(), "{text}");
        }
    }

    #[test]
    fn a_host_is_refused_when_any_address_is_not_public() {
        let public: IpAddr = "93.184.215.14".parse().expect("ip");
        let loopback: IpAddr = "127.0.0.1".parse().expect("ip");
        let v6: IpAddr = "2606:4700::6810:84e5".parse().expect("ip");
        assert!(check_addresses(&[public, v6], Transport::PublicHttps).is_ok());
        assert!(check_addresses(&[public, loopback], Transport::PublicHttps).is_err());
        assert!(check_addresses(&[], Transport::PublicHttps).is_err());
        assert!(check_addresses(&[loopback], Transport::LoopbackHttp).is_ok());
        assert!(check_addresses(&["10.1.2.3".parse().expect("ip")], Transport::LoopbackHttp).is_err());
    }

    #[test]
    fn classifies_addresses() {
        let kind = |text: &str| refusal(text.parse().expect("ip"));
        assert_eq!(kind("169.254.169.254"), Some("a metadata service's"));
        assert_eq!(kind("fd00:ec2::254"), Some("a metadata service's"));
        assert_eq!(kind("::ffff:10.0.0.1"), Some("a private"));
        assert_eq!(kind("64:ff9b::808:808"), None, "NAT64 of a public address");
        assert_eq!(kind("2002:808:808::1"), None, "6to4 of a public address");
        assert_eq!(kind("8.8.8.8"), None);
        assert_eq!(kind("2a00:1450:4009:81f::200e"), None);
        let message = check_address("10.0.0.1".parse().expect("ip")).expect_err("private").to_string();
        assert_eq!(message, "url's host is a private address, not a public one");
    }
}
