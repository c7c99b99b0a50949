//! Value types of the configuration: each checks itself when read (from the file, an
//! environment variable or a flag) and says what was expected, and writes itself back the
//! way it is read, for `config show`.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// A duration written as Go writes them: `500ms`, `1s`, `2m`, `1h`, `1d`; 1 ms to 24 h.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(std::time::Duration);

impl Duration {
    pub const fn from_secs(secs: u64) -> Self {
        Self(std::time::Duration::from_secs(secs))
    }

    pub const fn get(self) -> std::time::Duration {
        self.0
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Self(d)
    }
}

impl FromStr for Duration {
    type Err = String;

    fn from_str(v: &str) -> Result<Self, Self::Err> {
        let v = v.trim();
        let expected = || {
            format!(
                "invalid duration {v:?}: expected a number with a unit (ms, s, m, h or d), e.g. 500ms, 1s, 2m or 1h"
            )
        };
        let split = v
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(expected)?;
        let (number, unit) = v.split_at(split);
        let number: f64 = number.parse().map_err(|_| expected())?;
        let seconds = match unit {
            "ms" => number / 1000.0,
            "s" => number,
            "m" => number * 60.0,
            "h" => number * 3600.0,
            "d" => number * 86_400.0,
            _ => return Err(expected()),
        };
        if !(0.001..=86_400.0).contains(&seconds) {
            return Err(format!("invalid duration {v:?}: expected 1ms to 24h"));
        }
        Ok(Self(std::time::Duration::from_secs_f64(seconds)))
    }
}

impl fmt::Display for Duration {
    /// The largest unit that shows it exactly: `1h`, `90s`, `250ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_secs_f64() * 1000.0;
        for (unit, size) in [("h", 3_600_000.0), ("m", 60_000.0), ("s", 1000.0)] {
            if ms >= size && (ms / size).fract() == 0.0 {
                return write!(f, "{}{unit}", ms / size);
            }
        }
        write!(f, "{ms}ms")
    }
}

/// A pause that may be none: `0s`, or a [`Duration`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Delay(std::time::Duration);

impl Delay {
    pub const fn from_secs(secs: u64) -> Self {
        Self(std::time::Duration::from_secs(secs))
    }

    pub const fn get(self) -> std::time::Duration {
        self.0
    }
}

impl FromStr for Delay {
    type Err = String;

    fn from_str(v: &str) -> Result<Self, Self::Err> {
        match v.trim() {
            "0" | "0s" | "0ms" => Ok(Self(std::time::Duration::ZERO)),
            other => other
                .parse::<Duration>()
                .map(|d| Self(d.get()))
                .map_err(|e| format!("{e} (or 0s for none)")),
        }
    }
}

impl fmt::Display for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_zero() {
            f.write_str("0s")
        } else {
            Duration(self.0).fmt(f)
        }
    }
}

/// A port number, 0 to 65535; 0 picks a free port.
pub const PORT_EXPECTED: &str = "expected a port number from 0 to 65535 (0 picks a free port)";

/// Reads a port written as a number or as text (an environment variable or flag).
pub fn port<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    Ok(Some(match Scalar::deserialize(d)? {
        Scalar(text) => text
            .trim()
            .parse()
            .map_err(|_| de::Error::custom(PORT_EXPECTED))?,
    }))
}

/// Reads a required, non-empty text value.
pub fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let Scalar(text) = Scalar::deserialize(d)?;
    if text.trim().is_empty() {
        return Err(de::Error::custom("expected a non-empty value"));
    }
    Ok(text)
}

/// Reads an optional path that, when given, is not empty.
pub fn non_empty_path<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<std::path::PathBuf>, D::Error> {
    match Option::<Scalar>::deserialize(d)? {
        None => Ok(None),
        Some(Scalar(text)) if text.trim().is_empty() => {
            Err(de::Error::custom("expected a non-empty value"))
        }
        Some(Scalar(text)) => Ok(Some(text.into())),
    }
}

/// A scalar read as text: a string, number or boolean. Text in YAML may come out as a
/// number (`9092`) or a boolean (`true`); settings that are text take them as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_owned()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl Serialize for Scalar {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A `host:port` address: a non-empty host and a port number. Every entry point that
/// takes an address checks it this way (client `--addr`, static registry entries, Kafka
/// bootstrap servers, Consul and OTLP endpoints).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HostPort(String);

impl HostPort {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host (an IPv6 address without its brackets) and the port.
    pub fn split(addr: &str) -> Result<(&str, u16), String> {
        Self::check(addr)?;
        let (host, port) = addr
            .rsplit_once(':')
            .ok_or_else(|| format!("invalid address {addr:?}: expected host:port"))?;
        let port = port
            .parse()
            .map_err(|_| format!("invalid address {addr:?}: expected host:port"))?;
        Ok((host.trim_start_matches('[').trim_end_matches(']'), port))
    }

    /// Checks `addr` without keeping it.
    pub fn check(addr: &str) -> Result<(), String> {
        match addr.rsplit_once(':') {
            Some((host, port))
                if !host.is_empty()
                    && !host.contains('/')
                    && !host.chars().any(char::is_whitespace)
                    && port.parse::<u16>().is_ok() =>
            {
                Ok(())
            }
            _ => Err(format!("invalid address {addr:?}: expected host:port")),
        }
    }
}

impl FromStr for HostPort {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::check(s.trim())?;
        Ok(Self(s.trim().to_owned()))
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A host name or IP address without a port (an IPv6 address with or without brackets),
/// e.g. `10.0.0.7`, `metadata-0.movieapp` or `[fd00::7]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host(String);

impl Host {
    /// `host:port`, with an IPv6 address in brackets.
    pub fn with_port(&self, port: u16) -> String {
        format!("{}:{port}", self.0)
    }
}

impl FromStr for Host {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let v = s.trim();
        let bare = v.trim_start_matches('[').trim_end_matches(']');
        if let Ok(std::net::IpAddr::V6(ip)) = bare.parse() {
            return Ok(Self(format!("[{ip}]")));
        }
        let name_ok = !v.is_empty()
            && v.len() <= 253
            && v.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if name_ok {
            Ok(Self(v.to_owned()))
        } else {
            Err(format!(
                "invalid host {v:?}: expected a host name or IP address without a port, e.g. 10.0.0.7 or metadata.example"
            ))
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An `http://host:port` (or `https://`) base URL of a server, also accepted as plain
/// `host:port`, which means `http://`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAddress(String);

impl HttpAddress {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for HttpAddress {
    type Err = String;

    fn from_str(v: &str) -> Result<Self, Self::Err> {
        let v = v.trim().trim_end_matches('/');
        let (scheme, rest) = match v.split_once("://") {
            Some((scheme @ ("http" | "https"), rest)) => (scheme, rest),
            Some(_) => return Err(format!("invalid address {v:?}: expected http://host:port")),
            None => ("http", v),
        };
        HostPort::check(rest).map_err(|_| {
            format!("invalid address {v:?}: expected host:port or http://host:port")
        })?;
        Ok(Self(format!("{scheme}://{rest}")))
    }
}

impl fmt::Display for HttpAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Serde through `FromStr` and `Display`, for value types read from text: the `FromStr`
/// error becomes the message, which names the value and what was expected.
macro_rules! serde_via_str {
    ($($t:ty),* $(,)?) => {$(
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let $crate::config::value::Scalar(text) =
                    $crate::config::value::Scalar::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )*};
}
pub(crate) use serde_via_str;

serde_via_str!(Delay, Duration, Host, HostPort, HttpAddress);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let h = |s: &str| s.parse::<Host>().map(|h| h.with_port(80));
        assert_eq!(h("10.0.0.7"), Ok("10.0.0.7:80".into()));
        assert_eq!(
            h("metadata-0.movieapp"),
            Ok("metadata-0.movieapp:80".into())
        );
        assert_eq!(h("fd00::7"), Ok("[fd00::7]:80".into()));
        assert_eq!(h("[fd00::7]"), Ok("[fd00::7]:80".into()));
        for bad in ["", "host:80", "a b", "a..b", "http://x", "-"] {
            let err = h(bad).unwrap_err();
            assert!(err.contains("without a port"), "{bad}: {err}");
        }
    }

    #[test]
    fn durations() {
        let d = |s: &str| s.parse::<Duration>().map(Duration::get);
        assert_eq!(d("1s"), Ok(std::time::Duration::from_secs(1)));
        assert_eq!(d("250ms"), Ok(std::time::Duration::from_millis(250)));
        assert_eq!(d("2m"), Ok(std::time::Duration::from_secs(120)));
        assert_eq!(d("1.5s"), Ok(std::time::Duration::from_millis(1500)));
        assert_eq!(d("24h"), Ok(std::time::Duration::from_secs(86_400)));
        assert_eq!(d("1d"), Ok(std::time::Duration::from_secs(86_400)));
        for bad in ["", "5", "s", "5 s", "-1s", "0s", "25h", "2d"] {
            assert!(d(bad).is_err(), "{bad:?}");
        }
        for text in ["1h", "90s", "250ms", "2m", "1.5ms"] {
            assert_eq!(text.parse::<Duration>().unwrap().to_string(), text);
        }
        assert_eq!("60s".parse::<Duration>().unwrap().to_string(), "1m");
    }

    #[test]
    fn host_port() {
        for good in ["127.0.0.1:8081", "localhost:0", "[::1]:8081", "a.b:65535"] {
            assert!(HostPort::check(good).is_ok(), "{good}");
        }
        for bad in [
            "", "host", ":80", "h:", "h:70000", "h:x", "a/b:80", "a b:80",
        ] {
            assert!(HostPort::check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn http_addresses() {
        let a = |s: &str| s.parse::<HttpAddress>().map(|a| a.to_string());
        assert_eq!(a("10.0.0.9:8500"), Ok("http://10.0.0.9:8500".into()));
        assert_eq!(a("https://c:8501/"), Ok("https://c:8501".into()));
        for bad in ["", "::::", "c", "ftp://c:1", "http://c", "http://c:1/x"] {
            assert!(a(bad).is_err(), "{bad:?}");
        }
    }
}
