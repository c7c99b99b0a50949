//! Configuration (docs/design.md §5): one typed tree, the
//! shape of the YAML file itself (`configs/base.yaml` documents every key with its
//! default). Each section belongs to the module that uses it: `service::Settings` per
//! service, `discovery::Settings`, `broker::Settings`, `telemetry::{LogSettings,
//! Settings}`.
//!
//! Layers, later over earlier: the defaults, the file, the environment variables of
//! [`ENV_VARS`] (each names a path in the tree), then flags. Every layer is read by the same
//! serde types, so a value is checked the same way wherever it comes from, and an error
//! names the file and key, the variable, or the flag, with the value and what was expected.
//! [`Loaded::sources`] remembers where each value came from, for `movieapp config show`.

pub mod features;
pub mod reload;
pub mod value;

use std::{
    collections::BTreeMap,
    fmt::Write as _,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};
use serde_yaml_ng::{Mapping, Value};

use crate::{
    broker::{self, BrokerSettings},
    discovery::{self, RegistrySettings},
    service::{self, ServiceKind},
    telemetry,
};

/// Names a config file when `--config` is not given.
pub const CONFIG_ENV: &str = "MOVIEAPP_CONFIG";
/// Prefix of every configuration environment variable.
pub const ENV_PREFIX: &str = "MOVIEAPP_";

/// Every environment variable and the key (path in the tree) it sets.
pub const ENV_VARS: &[(&str, &str)] = &[
    ("MOVIEAPP_DATA_DIR", "dataDir"),
    ("MOVIEAPP_LISTEN_HOST", "listenHost"),
    ("MOVIEAPP_ADVERTISE_HOST", "advertiseHost"),
    ("MOVIEAPP_DATABASE_URL", "database.url"),
    ("MOVIEAPP_DATABASE_PASSWORD_FILE", "database.passwordFile"),
    ("MOVIEAPP_DATABASE_AUTO_MIGRATE", "database.autoMigrate"),
    ("MOVIEAPP_METADATA_API_PORT", "metadata.api.port"),
    ("MOVIEAPP_RATING_API_PORT", "rating.api.port"),
    ("MOVIEAPP_MOVIE_API_PORT", "movie.api.port"),
    ("MOVIEAPP_AUTH_API_PORT", "auth.api.port"),
    ("MOVIEAPP_DASHBOARD_PORT", "dashboard.port"),
    ("MOVIEAPP_AUTH_MODE", "auth.mode"),
    ("MOVIEAPP_REGISTRY", "serviceDiscovery.backend"),
    (
        "MOVIEAPP_SERVICE_DISCOVERY_HEARTBEAT_INTERVAL",
        "serviceDiscovery.heartbeatInterval",
    ),
    ("MOVIEAPP_SERVICE_DISCOVERY_TTL", "serviceDiscovery.ttl"),
    (
        "MOVIEAPP_SERVICE_DISCOVERY_CONSUL_ADDRESS",
        "serviceDiscovery.consul.address",
    ),
    ("MOVIEAPP_TLS_CERT", "tls.cert"),
    ("MOVIEAPP_TLS_KEY", "tls.key"),
    ("MOVIEAPP_TLS_CLIENT_CA", "tls.clientCa"),
    ("MOVIEAPP_TLS_CA", "tls.ca"),
    ("MOVIEAPP_TLS_CLIENT_CERT", "tls.clientCert"),
    ("MOVIEAPP_TLS_CLIENT_KEY", "tls.clientKey"),
    ("MOVIEAPP_BROKER", "broker.backend"),
    ("MOVIEAPP_LOCK_BACKEND", "lock.backend"),
    ("MOVIEAPP_LOG_FORMAT", "log.format"),
    (
        "MOVIEAPP_TELEMETRY_OTLP_ENDPOINT",
        "telemetry.otlp.endpoint",
    ),
    ("MOVIEAPP_SHUTDOWN_DRAIN_DELAY", "shutdown.drainDelay"),
    ("MOVIEAPP_SHUTDOWN_DRAIN_TIMEOUT", "shutdown.drainTimeout"),
];

/// Variables whose value may carry a secret (a URL with a password in it): an error
/// about them says what is wrong without quoting the value.
const MAY_HOLD_SECRETS: &[&str] = &["MOVIEAPP_DATABASE_URL"];

fn quoted(value: Option<&str>) -> String {
    value.map(|v| format!("={v:?}")).unwrap_or_default()
}

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
    /// `value` is `None` for a variable that may carry a secret: never quoted back.
    #[error("environment variable {name}{}: {expected}", quoted(value.as_deref()))]
    Env {
        name: &'static str,
        value: Option<String>,
        expected: String,
    },
    #[error("invalid {flag} {value:?}: {expected}")]
    Flag {
        flag: &'static str,
        value: String,
        expected: String,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(
        "no data directory: this platform has none for the user; pass --data-dir or set MOVIEAPP_DATA_DIR"
    )]
    NoDataDir,
    #[error("data directory {path} is not a directory ({what}); point --data-dir at a directory")]
    NotADirectory { path: PathBuf, what: &'static str },
}

/// The configuration: the YAML file's shape, every key optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct Config {
    /// Where the services keep their databases; `None` means the platform default.
    #[serde(deserialize_with = "value::non_empty_path")]
    pub data_dir: Option<PathBuf>,
    /// Where metadata and ratings are stored: SQLite in the data directory, or MySQL.
    pub database: crate::database::Settings,
    /// The address services listen on.
    #[serde(deserialize_with = "value::non_empty")]
    pub listen_host: String,
    /// The host (name or address) other hosts reach this one at, as registered in service
    /// discovery; `None`: the listen address (loopback for a wildcard one).
    pub advertise_host: Option<value::Host>,
    pub metadata: service::Settings,
    pub rating: service::Settings,
    pub movie: service::Settings,
    /// The auth service's section, with who must show a token.
    pub auth: crate::auth::settings::Settings,
    pub service_discovery: discovery::Settings,
    pub broker: broker::Settings,
    pub log: telemetry::LogSettings,
    pub telemetry: telemetry::Settings,
    pub shutdown: service::ShutdownSettings,
    pub connections: service::ConnectionSettings,
    /// How calls to other services are made: deadlines, retries, their budget.
    pub calls: crate::calls::CallSettings,
    /// Stale answers when a dependency fails.
    pub fallback: crate::calls::fallback::FallbackSettings,
    /// Faults to inject for drills; none by default.
    pub faults: Vec<crate::calls::faults::Fault>,
    /// TLS on every port and for every client; off by default.
    pub tls: crate::tls::Settings,
    /// The distributed lock: its store and lease timings.
    pub lock: crate::lock::settings::Settings,
    /// Movie files: the size limit.
    pub uploads: crate::uploads::Settings,
    /// Debug endpoints: CPU profiles.
    pub debug: crate::profiling::Settings,
    /// Who answers for the services, registered with each instance.
    pub ownership: discovery::Ownership,
    /// Feature toggles.
    pub features: features::Features,
    /// Change events: the outbox and its relay.
    pub events: crate::events::Settings,
    /// The spans each process keeps for the dashboard.
    pub traces: crate::dashboard::store::Settings,
    /// The web dashboard.
    pub dashboard: crate::dashboard::Settings,
}

impl Default for Config {
    fn default() -> Self {
        let mut config = Self {
            data_dir: None,
            database: crate::database::Settings::default(),
            listen_host: "127.0.0.1".to_owned(),
            advertise_host: None,
            metadata: service::Settings::default(),
            rating: service::Settings::default(),
            movie: service::Settings::default(),
            auth: crate::auth::settings::Settings::default(),
            service_discovery: discovery::Settings::default(),
            broker: broker::Settings::default(),
            log: telemetry::LogSettings::default(),
            telemetry: telemetry::Settings::default(),
            shutdown: service::ShutdownSettings::default(),
            connections: service::ConnectionSettings::default(),
            calls: crate::calls::CallSettings::default(),
            fallback: crate::calls::fallback::FallbackSettings::default(),
            faults: Vec::new(),
            tls: crate::tls::Settings::default(),
            lock: crate::lock::settings::Settings::default(),
            uploads: crate::uploads::Settings::default(),
            debug: crate::profiling::Settings::default(),
            ownership: discovery::Ownership::default(),
            features: features::Features::default(),
            events: crate::events::Settings::default(),
            traces: crate::dashboard::store::Settings::default(),
            dashboard: crate::dashboard::Settings::default(),
        };
        config.fill_defaults();
        config
    }
}

/// Where a value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Default,
    File,
    Env(&'static str),
    Flag(&'static str),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::File => f.write_str("file"),
            Self::Env(name) => write!(f, "env {name}"),
            Self::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// A value given by a flag, for the key at `path`.
#[derive(Debug, Clone)]
pub struct Override {
    pub path: &'static str,
    pub value: String,
    pub flag: &'static str,
}

/// The configuration and where each of its values came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// The file read, if any.
    pub file: Option<PathBuf>,
    /// The source of every key not left at its default, by dotted path.
    pub sources: BTreeMap<String, Source>,
}

impl Config {
    /// Loads the file (`file`, else `$MOVIEAPP_CONFIG`, else none) and applies the
    /// environment read through `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        Ok(Self::load_layers(file, env, &[])?.config)
    }

    /// Loads the file, then the environment, then `flags`, remembering the source of each
    /// value.
    pub fn load_layers(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        flags: &[Override],
    ) -> Result<Loaded, ConfigError> {
        let env_file = env(CONFIG_ENV).filter(|v| !v.is_empty()).map(PathBuf::from);
        let path = file.map(Path::to_owned).or(env_file);
        let mut sources = BTreeMap::new();
        let mut tree = match &path {
            Some(path) => {
                let tree = read_file(path)?;
                for leaf in leaves(&tree) {
                    sources.insert(leaf, Source::File);
                }
                tree
            }
            None => Value::Mapping(Mapping::new()),
        };
        let defaults = serde_yaml_ng::to_value(Self::default())
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let layer = |tree: &mut Value, key: &str, text: &str| -> Result<(), String> {
            set(tree, key, typed(&defaults, key, text));
            Self::deserialize(tree.clone())
                .map(drop)
                .map_err(|e| e.to_string())
        };
        // Then the standard variable, only where the file and movieapp's own variable left
        // its key unset.
        let ours = ENV_VARS.iter().map(|&(name, key)| (name, key, false));
        let standard = [(
            telemetry::OTEL_ENDPOINT_ENV,
            "telemetry.otlp.endpoint",
            true,
        )];
        for (name, key, fallback) in ours.chain(standard) {
            if fallback && sources.contains_key(key) {
                continue;
            }
            if let Some(value) = env(name) {
                layer(&mut tree, key, &value).map_err(|expected| ConfigError::Env {
                    name,
                    value: (!MAY_HOLD_SECRETS.contains(&name)).then_some(value),
                    expected,
                })?;
                sources.insert(key.to_owned(), Source::Env(name));
            }
        }
        for o in flags {
            layer(&mut tree, o.path, &o.value).map_err(|expected| ConfigError::Flag {
                flag: o.flag,
                value: o.value.clone(),
                expected,
            })?;
            sources.insert(o.path.to_owned(), Source::Flag(o.flag));
        }
        let mut config =
            Self::deserialize(tree).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        config.fill_defaults();
        if let Err((key, message)) = config.rules() {
            // Named by where the key's value came from.
            let source = sources
                .iter()
                .find(|(p, _)| {
                    p.as_str() == key
                        || p.strip_prefix(key)
                            .is_some_and(|rest| rest.starts_with(['.', '[']))
                })
                .map(|(_, s)| *s);
            return Err(match (source, path) {
                (Some(Source::File), Some(path)) => ConfigError::Parse { path, message },
                (Some(Source::Env(name)), _) => {
                    ConfigError::Invalid(format!("environment variable {name}: {message}"))
                }
                (Some(Source::Flag(flag)), _) => ConfigError::Invalid(format!("{flag}: {message}")),
                _ => ConfigError::Invalid(message),
            });
        }
        Ok(Loaded {
            config,
            file: path,
            sources,
        })
    }

    /// Loads from the process environment, with `flags` over it.
    pub fn load_from_env(file: Option<&Path>, flags: &[Override]) -> Result<Loaded, ConfigError> {
        Self::load_layers(file, |name| std::env::var(name).ok(), flags)
    }

    /// Gives every service without a port the book's.
    fn fill_defaults(&mut self) {
        for kind in ServiceKind::ALL {
            self.api_mut(kind).port.get_or_insert(kind.default_port());
        }
    }

    /// Checks rules the types cannot: the key the rule is about, and what is wrong.
    fn rules(&self) -> Result<(), (&'static str, String)> {
        crate::calls::faults::check_all(&self.faults).map_err(|e| ("faults", e))?;
        self.calls.check().map_err(|e| ("calls", e))?;
        self.fallback.check().map_err(|e| ("fallback", e))?;
        for service in [
            ServiceKind::Metadata,
            ServiceKind::Rating,
            ServiceKind::Movie,
        ] {
            self.service(service)
                .check(service)
                .map_err(|e| (service.name(), e))?;
        }
        self.auth.check().map_err(|e| ("auth", e))?;
        self.database.check().map_err(|e| ("database", e))?;
        self.lock.check().map_err(|e| ("lock", e))?;
        self.uploads.check().map_err(|e| ("uploads", e))?;
        self.traces.check().map_err(|e| ("traces", e))?;
        self.connections.check().map_err(|e| ("connections", e))?;
        self.ownership.check().map_err(|e| ("ownership", e))?;
        self.tls.check()?;
        self.broker.check().map_err(|e| ("broker.kafka", e))?;
        let d = &self.service_discovery;
        if d.heartbeat_interval >= d.ttl {
            return Err((
                "serviceDiscovery.heartbeatInterval",
                format!(
                    "serviceDiscovery.heartbeatInterval ({}) must be shorter than serviceDiscovery.ttl ({}), or instances drop out between heartbeats",
                    d.heartbeat_interval, d.ttl
                ),
            ));
        }
        Ok(())
    }

    /// `MOVIEAPP_*` variables in the environment that configure nothing (typos, most
    /// likely), for a warning once logging is set up.
    pub fn unknown_env_vars() -> Vec<String> {
        std::env::vars()
            .map(|(name, _)| name)
            .filter(|name| {
                name.starts_with(ENV_PREFIX)
                    && name != CONFIG_ENV
                    && name != crate::auth::settings::SIGNING_KEY_ENV
                    && name != crate::database::PASSWORD_ENV
                    && name != crate::lock::TOKEN_ENV
                    && name != crate::auth::session::TOKEN_ENV
                    && !ENV_VARS.iter().any(|(known, _)| known == name)
            })
            .collect()
    }

    /// The keys of `service`'s section that every service has.
    pub fn service(&self, service: ServiceKind) -> service::Settings {
        match service {
            ServiceKind::Metadata => self.metadata.clone(),
            ServiceKind::Rating => self.rating.clone(),
            ServiceKind::Movie => self.movie.clone(),
            ServiceKind::Auth => self.auth.service(),
        }
    }

    fn api(&self, service: ServiceKind) -> &service::ApiSettings {
        match service {
            ServiceKind::Metadata => &self.metadata.api,
            ServiceKind::Rating => &self.rating.api,
            ServiceKind::Movie => &self.movie.api,
            ServiceKind::Auth => &self.auth.api,
        }
    }

    fn api_mut(&mut self, service: ServiceKind) -> &mut service::ApiSettings {
        match service {
            ServiceKind::Metadata => &mut self.metadata.api,
            ServiceKind::Rating => &mut self.rating.api,
            ServiceKind::Movie => &mut self.movie.api,
            ServiceKind::Auth => &mut self.auth.api,
        }
    }

    /// The port `service` listens on.
    pub fn port(&self, service: ServiceKind) -> u16 {
        self.api(service).port.unwrap_or(service.default_port())
    }

    /// How to open the rating feed's broker, with the data directory resolved.
    pub fn broker_settings(&self) -> Result<BrokerSettings, ConfigError> {
        Ok(BrokerSettings {
            kind: self.broker.backend.clone(),
            data_dir: self.resolved_data_dir()?,
            kafka: self.broker.kafka.clone(),
        })
    }

    /// How to open the registry, with the data directory resolved.
    pub fn registry_settings(&self) -> Result<RegistrySettings, ConfigError> {
        let d = &self.service_discovery;
        let static_addresses = ServiceKind::ALL
            .iter()
            .filter_map(|&service| {
                let configured = d
                    .static_addresses
                    .get(&service)
                    .map(|addrs| addrs.iter().map(|a| a.to_string()).collect());
                let addrs = configured.or_else(|| match self.port(service) {
                    0 => None,
                    port => Some(vec![format!("{}:{port}", self.dial_host())]),
                })?;
                Some((service.name().to_owned(), addrs))
            })
            .collect();
        Ok(RegistrySettings {
            kind: d.backend.clone(),
            data_dir: self.resolved_data_dir()?,
            ttl: d.ttl.get(),
            consul_address: d.consul.address.to_string(),
            static_addresses,
            tls: self.tls.clone(),
            ownership: self.ownership.clone(),
        })
    }

    /// The data directory: configured, else the platform's (`~/.local/share/movieapp` on
    /// Linux).
    /// Something other than a directory in its place is an error naming it.
    pub fn resolved_data_dir(&self) -> Result<PathBuf, ConfigError> {
        let dir = match &self.data_dir {
            Some(dir) => dir.clone(),
            None => dirs::data_dir()
                .map(|d| d.join("movieapp"))
                .ok_or(ConfigError::NoDataDir)?,
        };
        let what = match (std::fs::metadata(&dir), std::fs::symlink_metadata(&dir)) {
            (Ok(m), _) if m.is_dir() => return Ok(dir),
            (Ok(_), _) => "it is a file",
            (Err(_), Ok(link)) if link.file_type().is_symlink() => {
                "it is a symbolic link to nothing"
            }
            // Missing: created when needed.
            _ => return Ok(dir),
        };
        Err(ConfigError::NotADirectory { path: dir, what })
    }

    /// The host a client on this machine dials to reach a service listening on
    /// `listenHost`.
    pub fn dial_host(&self) -> String {
        service::dial_host(&self.listen_host)
    }
}

/// Reads and checks a configuration file: the typed read gives errors with the key and
/// line; the tree is what later layers are applied to.
fn read_file(path: &Path) -> Result<Value, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let parse = |message: String| ConfigError::Parse {
        path: path.to_owned(),
        message,
    };
    // An empty file (or one of only comments) is an empty configuration.
    if text.lines().all(|l| {
        let l = l.trim_start();
        l.is_empty() || l.starts_with('#')
    }) {
        return Ok(Value::Mapping(Mapping::new()));
    }
    let typed = serde_yaml_ng::Deserializer::from_str(&text);
    serde_path_to_error::deserialize::<_, Config>(typed).map_err(|e| parse(at_key(&e)))?;
    serde_yaml_ng::from_str(&text).map_err(|e| parse(e.to_string()))
}

/// An error in a file, led by the full key (`movie.api.port: …`). serde_yaml_ng names the
/// enclosing mapping of a value it could not read; the tracked path names the key itself.
fn at_key(e: &serde_path_to_error::Error<serde_yaml_ng::Error>) -> String {
    let path = e.path().to_string();
    let inner = e.inner().to_string();
    if path.is_empty() || path == "." {
        return inner;
    }
    match inner.split_once(": ") {
        Some((head, rest)) if path.starts_with(head) => format!("{path}: {rest}"),
        _ => format!("{path}: {inner}"),
    }
}

/// The dotted path of every value in `tree` that is not a mapping.
fn leaves(tree: &Value) -> Vec<String> {
    fn walk(value: &Value, path: &str, out: &mut Vec<String>) {
        match value {
            Value::Mapping(map) if !map.is_empty() => {
                for (key, child) in map {
                    let key = key_text(key);
                    let path = if path.is_empty() {
                        key
                    } else {
                        format!("{path}.{key}")
                    };
                    walk(child, &path, out);
                }
            }
            _ if !path.is_empty() => out.push(path.to_owned()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(tree, "", &mut out);
    out
}

fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => serde_yaml_ng::to_string(other)
            .map(|s| s.trim_end().to_owned())
            .unwrap_or_default(),
    }
}

/// The value at a dotted `path` of `tree`.
fn get<'a>(tree: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(tree, |node, key| node.as_mapping()?.get(key))
}

/// Sets the value at a dotted `path`, creating the mappings on the way.
fn set(tree: &mut Value, path: &str, value: Value) {
    let mut node = tree;
    for key in path.split('.') {
        if !node.is_mapping() {
            *node = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(map) = node else {
            return;
        };
        node = map
            .entry(Value::String(key.to_owned()))
            .or_insert(Value::Null);
    }
    *node = value;
}

/// Text from a variable or flag as the value it stands for: a number or boolean where the
/// key holds one (so `8081` is a port), text otherwise.
fn typed(defaults: &Value, path: &str, text: &str) -> Value {
    let scalar = matches!(get(defaults, path), Some(Value::Number(_) | Value::Bool(_)));
    if scalar
        && !text.trim().is_empty()
        && let Ok(value @ (Value::Number(_) | Value::Bool(_))) = serde_yaml_ng::from_str(text)
    {
        return value;
    }
    Value::String(text.to_owned())
}

impl Loaded {
    /// The effective configuration as YAML, each value followed by its source.
    pub fn to_yaml(&self) -> Result<String, ConfigError> {
        let tree = self.effective()?;
        let mut out = String::new();
        if let Some(file) = &self.file {
            let _ = writeln!(out, "# file: {}", file.display());
        }
        self.render(&tree, "", 0, &mut out);
        Ok(out)
    }

    /// The effective configuration as JSON: `{"metadata.api.port": {"value": 8081,
    /// "source": "default"}, …}`.
    pub fn to_json(&self) -> Result<serde_json::Value, ConfigError> {
        let tree = self.effective()?;
        let mut out = serde_json::Map::new();
        let mut paths = leaves(&tree);
        paths.sort();
        for path in paths {
            let value = get(&tree, &path).cloned().unwrap_or(Value::Null);
            let value =
                serde_json::to_value(&value).map_err(|e| ConfigError::Invalid(e.to_string()))?;
            let source = self.source(&path).to_string();
            let reloadable = reload::reloadable(&path);
            out.insert(
                path,
                serde_json::json!({ "value": value, "source": source, "reloadable": reloadable }),
            );
        }
        Ok(serde_json::Value::Object(out))
    }

    fn effective(&self) -> Result<Value, ConfigError> {
        serde_yaml_ng::to_value(&self.config).map_err(|e| ConfigError::Invalid(e.to_string()))
    }

    /// The source of `path`, or of the values under it.
    fn source(&self, path: &str) -> Source {
        if let Some(source) = self.sources.get(path) {
            return *source;
        }
        let prefix = format!("{path}.");
        self.sources
            .iter()
            .find(|(p, _)| p.starts_with(&prefix))
            .map_or(Source::Default, |(_, s)| *s)
    }

    fn render(&self, value: &Value, path: &str, indent: usize, out: &mut String) {
        let Value::Mapping(map) = value else { return };
        for (key, child) in map {
            let key = key_text(key);
            let path = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            let pad = " ".repeat(indent);
            match child {
                Value::Mapping(inner) if !inner.is_empty() => {
                    let _ = writeln!(out, "{pad}{key}:");
                    self.render(child, &path, indent + 2, out);
                }
                _ => {
                    let text = inline(child);
                    let reload = if reload::reloadable(&path) {
                        ", reloadable"
                    } else {
                        ""
                    };
                    let _ = writeln!(out, "{pad}{key}: {text}  # {}{reload}", self.source(&path));
                }
            }
        }
    }
}

/// A value on one line: scalars as YAML writes them, sequences and mappings in flow style.
fn inline(value: &Value) -> String {
    match value {
        Value::Sequence(items) => {
            let items: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Mapping(map) if map.is_empty() => "{}".to_owned(),
        Value::Mapping(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", key_text(k), inline(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        scalar => serde_yaml_ng::to_string(scalar)
            .map(|s| s.trim_end().to_owned())
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests;
