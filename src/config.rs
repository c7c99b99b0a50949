//! Configuration (SPEC section 5): a YAML file (format: `configs/base.yaml`), overridden by
//! `MOVIEAPP_<SECTION>_<KEY>` environment variables, overridden by flags. No file is needed:
//! every key has a default. Unknown keys and invalid values are rejected with the file, key
//! or variable and the reason.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;

use crate::{
    broker::{BrokerKind, BrokerSettings, KafkaProperties},
    discovery::{HEALTHY_TTL, HEARTBEAT_INTERVAL, RegistryKind, RegistrySettings, consul},
    service::ServiceKind,
};

/// Names a config file when `--config` is not given.
pub const CONFIG_ENV: &str = "MOVIEAPP_CONFIG";
/// Prefix of every configuration environment variable.
pub const ENV_PREFIX: &str = "MOVIEAPP_";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("environment variable {name}={value:?}: {expected}")]
    Env {
        name: &'static str,
        value: String,
        expected: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(
        "no data directory: this platform has none for the user; pass --data-dir or set MOVIEAPP_DATA_DIR"
    )]
    NoDataDir,
}

/// The resolved configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where the services keep their databases; `None` means the platform default.
    pub data_dir: Option<PathBuf>,
    /// The address services listen on.
    pub listen_host: String,
    pub metadata_port: u16,
    pub rating_port: u16,
    pub movie_port: u16,
    /// Which service registry to use.
    pub registry: RegistryKind,
    /// How often each instance heartbeats.
    pub heartbeat_interval: Duration,
    /// How long a silent instance stays healthy.
    pub registry_ttl: Duration,
    /// The Consul agent's URL, for `registry: consul`.
    pub consul_address: String,
    /// Addresses for `registry: static`, per service; unset ones default to this host's
    /// configured ports.
    pub static_addresses: Vec<(ServiceKind, Vec<String>)>,
    /// The rating feed's broker.
    pub broker: BrokerKind,
    /// librdkafka properties for Kafka clients.
    pub kafka: KafkaProperties,
    /// How log lines are written.
    pub log_format: LogFormat,
    /// Where OpenTelemetry traces go (OTLP over gRPC); `None` exports nothing.
    pub otlp_endpoint: Option<String>,
}

/// How log lines are written: `text` for people, `json` for log pipelines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!(
                "invalid log format {other:?}: expected text or json"
            )),
        }
    }
}

/// The standard OpenTelemetry variable naming the OTLP endpoint, used when
/// `telemetry.otlp.endpoint` is not set.
pub const OTEL_ENDPOINT_ENV: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: None,
            listen_host: "127.0.0.1".to_owned(),
            metadata_port: ServiceKind::Metadata.default_port(),
            rating_port: ServiceKind::Rating.default_port(),
            movie_port: ServiceKind::Movie.default_port(),
            registry: RegistryKind::default(),
            heartbeat_interval: HEARTBEAT_INTERVAL,
            registry_ttl: HEALTHY_TTL,
            consul_address: consul::DEFAULT_ADDRESS.to_owned(),
            static_addresses: Vec::new(),
            broker: BrokerKind::default(),
            kafka: KafkaProperties::default(),
            log_format: LogFormat::Text,
            otlp_endpoint: None,
        }
    }
}

/// The file's shape. Every key is optional; unknown keys are errors.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct File {
    data_dir: Option<PathBuf>,
    listen_host: Option<String>,
    metadata: Option<ServiceSection>,
    rating: Option<ServiceSection>,
    movie: Option<ServiceSection>,
    service_discovery: Option<DiscoverySection>,
    broker: Option<BrokerSection>,
    log: Option<LogSection>,
    telemetry: Option<TelemetrySection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogSection {
    format: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TelemetrySection {
    otlp: Option<OtlpSection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OtlpSection {
    endpoint: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BrokerSection {
    backend: Option<String>,
    kafka: Option<KafkaSection>,
}

/// librdkafka properties, e.g. `producer: {compression.type: lz4}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KafkaSection {
    #[serde(default)]
    producer: std::collections::BTreeMap<String, serde_yaml_ng::Value>,
    #[serde(default)]
    consumer: std::collections::BTreeMap<String, serde_yaml_ng::Value>,
}

/// A librdkafka property value from YAML: strings, numbers and booleans, as text.
fn property(name: &str, value: &serde_yaml_ng::Value) -> Result<(String, String), String> {
    use serde_yaml_ng::Value;
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return Err(format!("{name}: expected a string, number or boolean")),
    };
    Ok((name.to_owned(), text))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DiscoverySection {
    backend: Option<String>,
    heartbeat_interval: Option<String>,
    ttl: Option<String>,
    consul: Option<ConsulSection>,
    #[serde(rename = "static")]
    static_addresses: Option<StaticSection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsulSection {
    address: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StaticSection {
    metadata: Option<Vec<String>>,
    rating: Option<Vec<String>>,
    movie: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceSection {
    api: Option<ApiSection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiSection {
    port: Option<u16>,
}

type Setter = fn(&mut Config, &str) -> Result<(), String>;

/// Every environment variable, the key it overrides, and how it is parsed.
const ENV_VARS: &[(&str, Setter)] = &[
    ("MOVIEAPP_DATA_DIR", |c, v| {
        c.data_dir = Some(non_empty(v)?.into());
        Ok(())
    }),
    ("MOVIEAPP_LISTEN_HOST", |c, v| {
        c.listen_host = non_empty(v)?.to_owned();
        Ok(())
    }),
    ("MOVIEAPP_METADATA_API_PORT", |c, v| {
        c.metadata_port = port(v)?;
        Ok(())
    }),
    ("MOVIEAPP_RATING_API_PORT", |c, v| {
        c.rating_port = port(v)?;
        Ok(())
    }),
    ("MOVIEAPP_MOVIE_API_PORT", |c, v| {
        c.movie_port = port(v)?;
        Ok(())
    }),
    ("MOVIEAPP_REGISTRY", |c, v| {
        c.registry = v.parse()?;
        Ok(())
    }),
    ("MOVIEAPP_BROKER", |c, v| {
        c.broker = v.parse()?;
        Ok(())
    }),
    ("MOVIEAPP_SERVICE_DISCOVERY_HEARTBEAT_INTERVAL", |c, v| {
        c.heartbeat_interval = duration(v)?;
        Ok(())
    }),
    ("MOVIEAPP_SERVICE_DISCOVERY_TTL", |c, v| {
        c.registry_ttl = duration(v)?;
        Ok(())
    }),
    ("MOVIEAPP_SERVICE_DISCOVERY_CONSUL_ADDRESS", |c, v| {
        c.consul_address = consul_url(v)?;
        Ok(())
    }),
    ("MOVIEAPP_LOG_FORMAT", |c, v| {
        c.log_format = v.parse()?;
        Ok(())
    }),
    ("MOVIEAPP_TELEMETRY_OTLP_ENDPOINT", |c, v| {
        c.otlp_endpoint = otlp_endpoint(v)?;
        Ok(())
    }),
];

fn non_empty(v: &str) -> Result<&str, String> {
    if v.trim().is_empty() {
        Err("expected a non-empty value".to_owned())
    } else {
        Ok(v)
    }
}

fn port(v: &str) -> Result<u16, String> {
    v.trim()
        .parse()
        .map_err(|_| "expected a port number from 0 to 65535 (0 picks a free port)".to_owned())
}

/// A duration such as `1s`, `500ms` or `2m`.
pub fn duration(v: &str) -> Result<Duration, String> {
    let v = v.trim();
    let expected =
        || format!("invalid duration {v:?}: expected a number with a unit, e.g. 500ms, 1s or 2m");
    let split = v
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .ok_or_else(expected)?;
    let (number, unit) = v.split_at(split);
    let number: f64 = number.parse().map_err(|_| expected())?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" => number,
        "m" => number * 60.0,
        _ => return Err(expected()),
    };
    if !(0.001..=86_400.0).contains(&seconds) {
        return Err(format!("invalid duration {v:?}: expected 1ms to 24h"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// A Consul agent address, `host:port` or `http(s)://host:port`, as a URL.
fn consul_url(v: &str) -> Result<String, String> {
    let v = non_empty(v)?.trim().trim_end_matches('/');
    if v.starts_with("http://") || v.starts_with("https://") {
        Ok(v.to_owned())
    } else if v.contains(':') && !v.contains('/') {
        Ok(format!("http://{v}"))
    } else {
        Err(format!(
            "invalid Consul address {v:?}: expected host:port or http://host:port"
        ))
    }
}

/// An OTLP/gRPC collector address, `http://host:port` (empty: none).
fn otlp_endpoint(v: &str) -> Result<Option<String>, String> {
    let v = v.trim().trim_end_matches('/');
    if v.is_empty() {
        return Ok(None);
    }
    let expected = || {
        format!(
            "invalid OTLP endpoint {v:?}: expected http://host:port of an OTLP/gRPC collector, e.g. http://127.0.0.1:4317"
        )
    };
    if v.starts_with("https://") {
        return Err(format!(
            "invalid OTLP endpoint {v:?}: https is not supported; send to a local collector over http://host:port"
        ));
    }
    let rest = v.strip_prefix("http://").ok_or_else(expected)?;
    match rest.rsplit_once(':') {
        Some((host, port))
            if !host.is_empty() && !rest.contains('/') && port.parse::<u16>().is_ok() =>
        {
            Ok(Some(v.to_owned()))
        }
        _ => Err(expected()),
    }
}

impl Config {
    /// Loads the file (`file`, else `$MOVIEAPP_CONFIG`, else none) and applies the
    /// environment read through `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let env_file = env(CONFIG_ENV).filter(|v| !v.is_empty()).map(PathBuf::from);
        let mut config = match file.map(Path::to_owned).or(env_file) {
            Some(path) => Self::from_file(&path)?,
            None => Self::default(),
        };
        for (name, set) in ENV_VARS {
            if let Some(value) = env(name) {
                set(&mut config, &value).map_err(|expected| ConfigError::Env {
                    name,
                    value,
                    expected,
                })?;
            }
        }
        if config.otlp_endpoint.is_none()
            && let Some(value) = env(OTEL_ENDPOINT_ENV)
        {
            config.otlp_endpoint = otlp_endpoint(&value).map_err(|expected| ConfigError::Env {
                name: OTEL_ENDPOINT_ENV,
                value,
                expected,
            })?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks rules that span keys.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.heartbeat_interval >= self.registry_ttl {
            return Err(ConfigError::Invalid(format!(
                "serviceDiscovery.heartbeatInterval ({:?}) must be shorter than serviceDiscovery.ttl ({:?}), or instances drop out between heartbeats",
                self.heartbeat_interval, self.registry_ttl
            )));
        }
        Ok(())
    }

    /// Loads from the process environment.
    pub fn load_from_env(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load(file, |name| std::env::var(name).ok())
    }

    /// `MOVIEAPP_*` variables in the environment that configure nothing (typos, most
    /// likely), for a warning once logging is set up.
    pub fn unknown_env_vars() -> Vec<String> {
        std::env::vars()
            .map(|(name, _)| name)
            .filter(|name| {
                name.starts_with(ENV_PREFIX)
                    && name != CONFIG_ENV
                    && !ENV_VARS.iter().any(|(known, _)| known == name)
            })
            .collect()
    }

    fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_yaml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    fn from_yaml(text: &str) -> Result<Self, String> {
        // An empty file (or one of only comments) is an empty configuration.
        let file: File = if text.trim().lines().all(|l| l.trim_start().starts_with('#')) {
            File::default()
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?
        };
        let defaults = Self::default();
        let port = |section: Option<ServiceSection>, default| {
            section
                .and_then(|s| s.api)
                .and_then(|a| a.port)
                .unwrap_or(default)
        };
        let listen_host = file.listen_host.unwrap_or(defaults.listen_host);
        if listen_host.trim().is_empty() {
            return Err("listenHost: expected a non-empty host".to_owned());
        }
        let log_format = match file.log.and_then(|l| l.format) {
            Some(f) => f.parse().map_err(|e| format!("log.format: {e}"))?,
            None => defaults.log_format,
        };
        let otlp_endpoint = match file.telemetry.and_then(|t| t.otlp).and_then(|o| o.endpoint) {
            Some(e) => otlp_endpoint(&e).map_err(|e| format!("telemetry.otlp.endpoint: {e}"))?,
            None => defaults.otlp_endpoint,
        };
        let discovery = file.service_discovery.unwrap_or_default();
        let broker = file.broker.unwrap_or_default();
        let key = |name: &str, e: String| format!("serviceDiscovery.{name}: {e}");
        let mut static_addresses = Vec::new();
        if let Some(section) = discovery.static_addresses {
            for (service, addrs) in [
                (ServiceKind::Metadata, section.metadata),
                (ServiceKind::Rating, section.rating),
                (ServiceKind::Movie, section.movie),
            ] {
                if let Some(addrs) = addrs {
                    if let Some(bad) = addrs.iter().find(|a| !a.contains(':')) {
                        return Err(key(
                            &format!("static.{service}"),
                            format!("invalid address {bad:?}: expected host:port"),
                        ));
                    }
                    static_addresses.push((service, addrs));
                }
            }
        }
        Ok(Self {
            data_dir: file.data_dir,
            listen_host,
            metadata_port: port(file.metadata, defaults.metadata_port),
            rating_port: port(file.rating, defaults.rating_port),
            movie_port: port(file.movie, defaults.movie_port),
            registry: match discovery.backend {
                Some(b) => b.parse().map_err(|e| key("backend", e))?,
                None => defaults.registry,
            },
            heartbeat_interval: match discovery.heartbeat_interval {
                Some(d) => duration(&d).map_err(|e| key("heartbeatInterval", e))?,
                None => defaults.heartbeat_interval,
            },
            registry_ttl: match discovery.ttl {
                Some(d) => duration(&d).map_err(|e| key("ttl", e))?,
                None => defaults.registry_ttl,
            },
            consul_address: match discovery.consul.and_then(|c| c.address) {
                Some(a) => consul_url(&a).map_err(|e| key("consul.address", e))?,
                None => defaults.consul_address,
            },
            static_addresses,
            broker: match broker.backend {
                Some(b) => b.parse().map_err(|e| format!("broker.backend: {e}"))?,
                None => defaults.broker,
            },
            kafka: {
                let kafka = broker.kafka.unwrap_or_default();
                let side = |map: &std::collections::BTreeMap<String, serde_yaml_ng::Value>,
                            side: &str| {
                    map.iter()
                        .map(|(k, v)| {
                            property(k, v).map_err(|e| format!("broker.kafka.{side}.{e}"))
                        })
                        .collect::<Result<Vec<_>, _>>()
                };
                KafkaProperties {
                    producer: side(&kafka.producer, "producer")?,
                    consumer: side(&kafka.consumer, "consumer")?,
                }
            },
            log_format,
            otlp_endpoint,
        })
    }

    /// How to open the rating feed's broker, with the data directory resolved.
    pub fn broker_settings(&self) -> Result<BrokerSettings, ConfigError> {
        Ok(BrokerSettings {
            kind: self.broker.clone(),
            data_dir: self.resolved_data_dir()?,
            kafka: self.kafka.clone(),
        })
    }

    /// How to open the registry, with the data directory resolved.
    pub fn registry_settings(&self) -> Result<RegistrySettings, ConfigError> {
        let static_addresses = ServiceKind::ALL
            .iter()
            .filter_map(|&service| {
                let configured = self
                    .static_addresses
                    .iter()
                    .find(|(s, _)| *s == service)
                    .map(|(_, addrs)| addrs.clone());
                let addrs = configured.or_else(|| match self.port(service) {
                    0 => None,
                    port => Some(vec![format!("{}:{port}", self.dial_host())]),
                })?;
                Some((service.name().to_owned(), addrs))
            })
            .collect();
        Ok(RegistrySettings {
            kind: self.registry.clone(),
            data_dir: self.resolved_data_dir()?,
            ttl: self.registry_ttl,
            consul_address: self.consul_address.clone(),
            static_addresses,
        })
    }

    pub fn port(&self, service: ServiceKind) -> u16 {
        match service {
            ServiceKind::Metadata => self.metadata_port,
            ServiceKind::Rating => self.rating_port,
            ServiceKind::Movie => self.movie_port,
        }
    }

    /// The data directory: configured, else the platform's (`~/.local/share/movieapp` on
    /// Linux).
    pub fn resolved_data_dir(&self) -> Result<PathBuf, ConfigError> {
        match &self.data_dir {
            Some(dir) => Ok(dir.clone()),
            None => dirs::data_dir()
                .map(|d| d.join("movieapp"))
                .ok_or(ConfigError::NoDataDir),
        }
    }

    /// The host a client on this machine dials to reach a service listening on
    /// `listen_host`.
    pub fn dial_host(&self) -> String {
        crate::service::dial_host(&self.listen_host)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn write(dir: &tempfile::TempDir, text: &str) -> PathBuf {
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn no_file_gives_the_books_defaults() {
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(
            (c.metadata_port, c.rating_port, c.movie_port),
            (8081, 8082, 8083)
        );
    }

    #[test]
    fn the_committed_base_config_is_valid_and_matches_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/base.yaml");
        let c = Config::load(Some(&path), env(&[])).unwrap();
        assert_eq!(c, Config::default());
    }

    #[test]
    fn file_then_env_then_caller() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "dataDir: /srv/movieapp\nmetadata:\n  api:\n    port: 9001\nrating:\n  api:\n    port: 9002\n",
        );
        let c = Config::load(Some(&path), env(&[("MOVIEAPP_RATING_API_PORT", "0")])).unwrap();
        assert_eq!(c.data_dir, Some(PathBuf::from("/srv/movieapp")));
        assert_eq!(c.metadata_port, 9001);
        assert_eq!(c.rating_port, 0, "env overrides file");
        assert_eq!(c.movie_port, 8083, "unset keys keep defaults");
        // The file may also come from MOVIEAPP_CONFIG.
        let from_env = Config::load(None, env(&[("MOVIEAPP_CONFIG", path.to_str().unwrap())]));
        assert_eq!(from_env.unwrap().metadata_port, 9001);
    }

    #[test]
    fn logs_and_traces_from_file_then_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "log:\n  format: json\ntelemetry:\n  otlp:\n    endpoint: http://collector:4317/\n",
        );
        let c = Config::load(Some(&path), env(&[])).unwrap();
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.otlp_endpoint.as_deref(), Some("http://collector:4317"));
        // The standard variable applies only where movieapp's own setting is absent.
        let c = Config::load(
            Some(&path),
            env(&[
                ("MOVIEAPP_LOG_FORMAT", "text"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://other:4317"),
            ]),
        )
        .unwrap();
        assert_eq!(c.log_format, LogFormat::Text);
        assert_eq!(c.otlp_endpoint.as_deref(), Some("http://collector:4317"));
        let c = Config::load(
            None,
            env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://other:4317")]),
        );
        assert_eq!(
            c.unwrap().otlp_endpoint.as_deref(),
            Some("http://other:4317")
        );
        // An empty endpoint means none.
        let c = Config::load(None, env(&[("MOVIEAPP_TELEMETRY_OTLP_ENDPOINT", "")]));
        assert_eq!(c.unwrap().otlp_endpoint, None);
        for bad in [
            "log:\n  format: xml\n",
            "telemetry:\n  otlp:\n    endpoint: collector\n",
        ] {
            let path = write(&dir, bad);
            let msg = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
            assert!(
                msg.contains("log.format") || msg.contains("telemetry.otlp.endpoint"),
                "{msg}"
            );
        }
        let msg = Config::load(
            None,
            env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://c:4317")]),
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("https is not supported"), "{msg}");
    }

    #[test]
    fn unknown_keys_are_rejected_with_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "metadata:\n  api:\n    prot: 1\n");
        let msg = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(msg.contains("config.yaml"), "{msg}");
        assert!(msg.contains("prot"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
    }

    #[test]
    fn invalid_values_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "movie:\n  api:\n    port: 70000\n");
        let msg = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(msg.contains("movie.api.port"), "{msg}");
        let err = Config::load(None, env(&[("MOVIEAPP_REGISTRY", "etcd")])).unwrap_err();
        assert!(
            err.to_string().contains("MOVIEAPP_REGISTRY=\"etcd\""),
            "{err}"
        );
        let path = write(&dir, "serviceDiscovery:\n  ttl: 5 seconds\n");
        let msg = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(
            msg.contains("serviceDiscovery.ttl") && msg.contains("5 seconds"),
            "{msg}"
        );
        let slow = env(&[("MOVIEAPP_SERVICE_DISCOVERY_HEARTBEAT_INTERVAL", "10s")]);
        let msg = Config::load(None, slow).unwrap_err().to_string();
        assert!(msg.contains("must be shorter than"), "{msg}");
        let err = Config::load(None, env(&[("MOVIEAPP_MOVIE_API_PORT", "eighty")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable MOVIEAPP_MOVIE_API_PORT=\"eighty\": expected a port number from 0 to 65535 (0 picks a free port)"
        );
        let missing = Config::load(Some(Path::new("/nonexistent/movieapp.yaml")), env(&[]));
        assert!(
            missing
                .unwrap_err()
                .to_string()
                .contains("/nonexistent/movieapp.yaml")
        );
    }

    #[test]
    fn discovery_settings_come_from_file_and_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "serviceDiscovery:\n  backend: consul\n  heartbeatInterval: 500ms\n  ttl: 3s\n  consul:\n    address: 10.0.0.9:8500\n  static:\n    metadata: [10.0.0.1:8081, 10.0.0.2:8081]\n",
        );
        let c = Config::load(Some(&path), env(&[])).unwrap();
        assert_eq!(c.registry, RegistryKind::Consul(None));
        assert_eq!(c.heartbeat_interval, Duration::from_millis(500));
        assert_eq!(c.registry_ttl, Duration::from_secs(3));
        assert_eq!(c.consul_address, "http://10.0.0.9:8500");
        let c = Config::load(
            Some(&path),
            env(&[
                ("MOVIEAPP_REGISTRY", "static"),
                ("MOVIEAPP_DATA_DIR", "/tmp/x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.registry, RegistryKind::Static);
        let settings = c.registry_settings().unwrap();
        assert_eq!(
            settings.static_addresses,
            [
                (
                    "metadata".to_owned(),
                    vec!["10.0.0.1:8081".to_owned(), "10.0.0.2:8081".to_owned()]
                ),
                ("rating".to_owned(), vec!["127.0.0.1:8082".to_owned()]),
                ("movie".to_owned(), vec!["127.0.0.1:8083".to_owned()]),
            ]
        );
    }

    #[test]
    fn the_broker_comes_from_file_then_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "broker:\n  backend: kafka://k1:9092\n");
        let c = Config::load(Some(&path), env(&[])).unwrap();
        assert_eq!(c.broker, BrokerKind::Kafka("k1:9092".into()));
        let c = Config::load(Some(&path), env(&[("MOVIEAPP_BROKER", "sqlite")])).unwrap();
        assert_eq!(c.broker, BrokerKind::Sqlite);
        let err = Config::load(None, env(&[("MOVIEAPP_BROKER", "kafka://nohost")])).unwrap_err();
        assert!(err.to_string().contains("kafka://host:port"), "{err}");
        let path = write(
            &dir,
            "broker:\n  kafka:\n    producer:\n      batch.num.messages: 1\n      compression.type: lz4\n",
        );
        let c = Config::load(Some(&path), env(&[])).unwrap();
        assert_eq!(
            c.kafka.producer,
            [
                ("batch.num.messages".into(), "1".into()),
                ("compression.type".into(), "lz4".into())
            ]
        );
        let path = write(&dir, "broker:\n  backend: rabbitmq\n");
        let msg = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(
            msg.contains("broker.backend") && msg.contains("rabbitmq"),
            "{msg}"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(duration("1.5s"), Ok(Duration::from_millis(1500)));
        for bad in ["", "5", "s", "5 s", "-1s", "0s", "1h"] {
            assert!(duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn empty_and_comment_only_files_are_empty_configs() {
        let dir = tempfile::tempdir().unwrap();
        for text in ["", "# nothing here\n"] {
            let path = write(&dir, text);
            assert_eq!(
                Config::load(Some(&path), env(&[])).unwrap(),
                Config::default()
            );
        }
    }

    #[test]
    fn wildcard_hosts_are_dialled_over_loopback() {
        let mut c = Config::default();
        assert_eq!(c.dial_host(), "127.0.0.1");
        c.listen_host = "0.0.0.0".into();
        assert_eq!(c.dial_host(), "127.0.0.1");
    }
}
