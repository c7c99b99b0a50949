use std::{collections::HashMap, time::Duration};

use super::*;
use crate::{broker::BrokerKind, discovery::RegistryKind, telemetry::LogFormat};

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

fn base_yaml() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/base.yaml")
}

#[test]
fn no_file_gives_the_books_defaults() {
    let c = Config::load(None, env(&[])).unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(
        ServiceKind::ALL.map(|s| c.port(s)),
        [8081, 8082, 8083, 8084]
    );
}

#[test]
fn the_committed_base_config_is_valid_and_matches_the_defaults() {
    let c = Config::load(Some(&base_yaml()), env(&[])).unwrap();
    assert_eq!(c, Config::default());
}

#[test]
fn every_variable_names_a_key_of_the_tree() {
    let defaults = serde_yaml_ng::to_value(Config::default()).unwrap();
    for (name, key) in ENV_VARS {
        assert!(
            get(&defaults, key).is_some(),
            "{name} sets {key}, which is not a key"
        );
        let base = std::fs::read_to_string(base_yaml()).unwrap();
        assert!(
            base.contains(name),
            "{name} is not listed in configs/base.yaml"
        );
    }
    let c = Config::load(None, env(&[("MOVIEAPP_SHUTDOWN_DRAIN_DELAY", "0s")])).unwrap();
    assert!(c.shutdown.drain_delay.get().is_zero());
}

#[test]
fn every_key_of_the_tree_is_in_the_base_config() {
    let text = std::fs::read_to_string(base_yaml()).unwrap();
    let documented: Value = serde_yaml_ng::from_str(&text).unwrap();
    let defaults = serde_yaml_ng::to_value(Config::default()).unwrap();
    let documented = leaves(&documented);
    for key in leaves(&defaults) {
        assert!(
            documented.contains(&key),
            "{key} is not in configs/base.yaml: add it with its default and a comment"
        );
    }
}

#[test]
fn file_then_env_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "dataDir: /srv/movieapp\nmetadata:\n  api:\n    port: 9001\nrating:\n  api:\n    port: 9002\n",
    );
    let flags = [Override {
        path: "movie.api.port",
        value: "9003".into(),
        flag: "--movie-port",
    }];
    let loaded = Config::load_layers(
        Some(&path),
        env(&[("MOVIEAPP_RATING_API_PORT", "0")]),
        &flags,
    )
    .unwrap();
    let c = &loaded.config;
    assert_eq!(c.data_dir, Some(PathBuf::from("/srv/movieapp")));
    assert_eq!(c.port(ServiceKind::Metadata), 9001);
    assert_eq!(c.port(ServiceKind::Rating), 0, "env overrides file");
    assert_eq!(
        c.port(ServiceKind::Movie),
        9003,
        "flags override everything"
    );
    assert_eq!(loaded.sources["metadata.api.port"], Source::File);
    assert_eq!(
        loaded.sources["rating.api.port"],
        Source::Env("MOVIEAPP_RATING_API_PORT")
    );
    assert_eq!(
        loaded.sources["movie.api.port"],
        Source::Flag("--movie-port")
    );
    assert!(!loaded.sources.contains_key("listenHost"));
    // The file may also come from MOVIEAPP_CONFIG.
    let from_env = Config::load(None, env(&[("MOVIEAPP_CONFIG", path.to_str().unwrap())]));
    assert_eq!(from_env.unwrap().port(ServiceKind::Metadata), 9001);
}

#[test]
fn show_names_the_source_of_every_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "serviceDiscovery:\n  ttl: 10s\n");
    let loaded = Config::load_layers(
        Some(&path),
        env(&[("MOVIEAPP_LOG_FORMAT", "json")]),
        &[Override {
            path: "listenHost",
            value: "0.0.0.0".into(),
            flag: "--host",
        }],
    )
    .unwrap();
    let yaml = loaded.to_yaml().unwrap();
    for line in [
        "listenHost: 0.0.0.0  # flag --host",
        "  ttl: 10s  # file",
        "  format: json  # env MOVIEAPP_LOG_FORMAT",
        "    port: 8081  # default",
        "  static: {}  # default",
    ] {
        assert!(yaml.contains(line), "{line:?} in:\n{yaml}");
    }
    // What it prints is a valid configuration with the same values.
    let shown: Config = serde_yaml_ng::from_str(&yaml).unwrap();
    assert_eq!(shown, loaded.config);
    let json = loaded.to_json().unwrap();
    assert_eq!(json["serviceDiscovery.ttl"]["value"], "10s");
    assert_eq!(json["serviceDiscovery.ttl"]["source"], "file");
    assert_eq!(json["metadata.api.port"]["value"], 8081);
    assert_eq!(json["metadata.api.port"]["source"], "default");
}

#[test]
fn logs_and_traces_from_file_then_env() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "log:\n  format: json\ntelemetry:\n  otlp:\n    endpoint: http://collector:4317/\n",
    );
    let c = Config::load(Some(&path), env(&[])).unwrap();
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(
        c.telemetry.otlp.endpoint.as_deref(),
        Some("http://collector:4317")
    );
    // The standard variable applies only where movieapp's own setting is absent.
    let c = Config::load(
        Some(&path),
        env(&[
            ("MOVIEAPP_LOG_FORMAT", "text"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://other:4317"),
        ]),
    )
    .unwrap();
    assert_eq!(c.log.format, LogFormat::Text);
    assert_eq!(
        c.telemetry.otlp.endpoint.as_deref(),
        Some("http://collector:4317")
    );
    let c = Config::load(
        None,
        env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://other:4317")]),
    );
    assert_eq!(
        c.unwrap().telemetry.otlp.endpoint.as_deref(),
        Some("http://other:4317")
    );
    // An empty endpoint means none.
    let c = Config::load(None, env(&[("MOVIEAPP_TELEMETRY_OTLP_ENDPOINT", "")]));
    assert_eq!(c.unwrap().telemetry.otlp.endpoint, None);
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
    let path = write(&dir, "connections:\n  workers: 5000\n");
    let msg = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
    assert!(
        msg.contains("connections.workers")
            && msg.contains("5000 workers is more than 1024; expected 0 (one per CPU) to 1024"),
        "{msg}"
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
    // Empty values that would mean "here" or "nothing" are mistakes.
    for (text, key) in [
        ("dataDir: \"\"\n", "dataDir"),
        ("listenHost: \" \"\n", "listenHost"),
        (
            "serviceDiscovery:\n  consul:\n    address: \"::::\"\n",
            "consul.address",
        ),
    ] {
        let path = write(&dir, text);
        let msg = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(msg.contains(key), "{text}: {msg}");
    }
    // Rules across keys name where the value came from too.
    let path = write(
        &dir,
        "faults:\n  - service: rating\n    endpoint: PutRating\n    delay: 1s\n    rate: 2\n",
    );
    let msg = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
    assert!(
        msg.contains("config.yaml") && msg.contains("faults[0]"),
        "{msg}"
    );
    for (text, expected) in [
        (
            "calls:\n  outlierDetection:\n    maxEjectionPercent: 150\n",
            "calls.outlierDetection.maxEjectionPercent 150: expected 0 to 100",
        ),
        (
            "calls:\n  outlierDetection:\n    baseEjectionTime: 1m\n    maxEjectionTime: 30s\n",
            "calls.outlierDetection.maxEjectionTime 30s is shorter than baseEjectionTime 1m",
        ),
        (
            "fallback:\n  maxEntries: 5000000\n",
            "fallback.maxEntries 5000000: expected 0 (no fallbacks) to 1000000",
        ),
    ] {
        let path = write(&dir, text);
        let msg = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(msg.ends_with(expected), "{text}: {msg}");
    }
    let slow = env(&[("MOVIEAPP_SERVICE_DISCOVERY_HEARTBEAT_INTERVAL", "10s")]);
    let msg = Config::load(None, slow).unwrap_err().to_string();
    assert!(
        msg.contains("MOVIEAPP_SERVICE_DISCOVERY_HEARTBEAT_INTERVAL"),
        "{msg}"
    );
    let err = Config::load(None, env(&[("MOVIEAPP_DATA_DIR", "")])).unwrap_err();
    assert!(err.to_string().contains("non-empty"), "{err}");
    let flag = [Override {
        path: "listenHost",
        value: String::new(),
        flag: "--host",
    }];
    let err = Config::load_layers(None, env(&[]), &flag).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid --host \"\": expected a non-empty value"
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
    let d = &c.service_discovery;
    assert_eq!(d.backend, RegistryKind::Consul(None));
    assert_eq!(d.heartbeat_interval.get(), Duration::from_millis(500));
    assert_eq!(d.ttl.get(), Duration::from_secs(3));
    assert_eq!(d.consul.address.as_str(), "http://10.0.0.9:8500");
    let c = Config::load(
        Some(&path),
        env(&[
            ("MOVIEAPP_REGISTRY", "static"),
            ("MOVIEAPP_DATA_DIR", "/tmp/x"),
        ]),
    )
    .unwrap();
    assert_eq!(c.service_discovery.backend, RegistryKind::Static);
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
            ("auth".to_owned(), vec!["127.0.0.1:8084".to_owned()]),
        ]
    );
    for bad in [
        "serviceDiscovery:\n  static:\n    metadata: [nohost]\n",
        "serviceDiscovery:\n  static:\n    ratings: [h:1]\n",
    ] {
        let path = write(&dir, bad);
        let msg = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(msg.contains("serviceDiscovery.static"), "{msg}");
    }
}

#[test]
fn the_broker_comes_from_file_then_env() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "broker:\n  backend: kafka://k1:9092\n");
    let c = Config::load(Some(&path), env(&[])).unwrap();
    assert_eq!(c.broker.backend, BrokerKind::Kafka("k1:9092".into()));
    let c = Config::load(Some(&path), env(&[("MOVIEAPP_BROKER", "sqlite")])).unwrap();
    assert_eq!(c.broker.backend, BrokerKind::Sqlite);
    let err = Config::load(None, env(&[("MOVIEAPP_BROKER", "kafka://nohost")])).unwrap_err();
    assert!(err.to_string().contains("kafka://host:port"), "{err}");
    let path = write(
        &dir,
        "broker:\n  kafka:\n    producer:\n      batch.num.messages: 1\n      compression.type: lz4\n",
    );
    let c = Config::load(Some(&path), env(&[])).unwrap();
    let producer: Vec<(&str, &str)> = c
        .broker
        .kafka
        .producer
        .iter()
        .map(|(k, v)| (k.as_str(), v.0.as_str()))
        .collect();
    assert_eq!(
        producer,
        [("batch.num.messages", "1"), ("compression.type", "lz4")]
    );
    let path = write(
        &dir,
        "broker:\n  kafka:\n    consumer:\n      no.such.property: 1\n",
    );
    let msg = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
    assert!(
        msg.contains("config.yaml") && msg.contains("broker.kafka.consumer.no.such.property"),
        "{msg}"
    );
    let path = write(&dir, "broker:\n  backend: rabbitmq\n");
    let msg = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
    assert!(
        msg.contains("broker.backend") && msg.contains("rabbitmq"),
        "{msg}"
    );
}

#[test]
fn empty_and_comment_only_files_are_empty_configs() {
    let dir = tempfile::tempdir().unwrap();
    for text in ["", "# nothing here\n", "\n# a\n\n"] {
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
