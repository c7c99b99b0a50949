//! TLS and mutual TLS on every port (issue 11), checked with independent clients (the real
//! grpcurl, Python grpcio) and our own: certificates from `movieapp certs init`, a config
//! with `tls` and `auth.mode: writes`, `login`, and the clients sending the kept token.

use std::{path::Path, process::Command, time::Duration};

use crate::support::{Run, Server, movieapp_env, repo_root, test_tool};

const PASSWORD: &str = "correct horse battery";

/// `certs init` into `<dir>/certs`; returns that directory.
pub fn certs(dir: &Path) -> std::path::PathBuf {
    let data = dir.to_str().unwrap();
    let made = crate::support::movieapp(&["--data-dir", data, "certs", "init"]);
    assert_eq!(made.code, Some(0), "{}", made.stderr);
    dir.join("certs")
}

/// A config file with TLS (mutual when `mutual`) and `auth.mode: writes`.
fn secure_config(dir: &Path, certs: &Path, mutual: bool) -> String {
    let c = |name: &str| certs.join(name).display().to_string();
    let mut yaml = format!(
        "auth:\n  mode: writes\ntls:\n  cert: {}\n  key: {}\n  ca: {}\n",
        c("server.crt"),
        c("server.key"),
        c("ca.crt")
    );
    if mutual {
        yaml += &format!(
            "  clientCa: {}\n  clientCert: {}\n  clientKey: {}\n",
            c("ca.crt"),
            c("client.crt"),
            c("client.key")
        );
    }
    let path = dir.join("secure.yaml");
    std::fs::write(&path, yaml).unwrap();
    path.display().to_string()
}

/// `serve` with TLS (mutual when `mutual`) and auth writes, and a writer, alex.
struct Secure {
    dir: tempfile::TempDir,
    certs: std::path::PathBuf,
    config: String,
    server: Server,
}

impl Secure {
    fn start(mutual: bool, extra: &[&str]) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let certs = certs(dir.path());
        let config = secure_config(dir.path(), &certs, mutual);
        let mut args = vec!["--config", config.as_str()];
        args.extend(extra);
        let server = Server::start_with(dir.path(), &args);
        let data = dir.path().display().to_string();
        let added = crate::support::movieapp_stdin(
            &["--data-dir", &data, "auth", "user", "add", "alex"],
            &format!("{PASSWORD}\n"),
        );
        assert_eq!(added.code, Some(0), "{}", added.stderr);
        Self {
            dir,
            certs,
            config,
            server,
        }
    }
}

/// The certificates in a PEM file.
pub fn pem_certs(path: &Path) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The private key in a PEM file.
pub fn pem_key(path: &Path) -> rustls::pki_types::PrivateKeyDer<'static> {
    use rustls::pki_types::{PrivateKeyDer, pem::PemObject};
    PrivateKeyDer::from_pem_file(path).unwrap()
}

/// A client command with the config, the data directory and a state directory of its own.
fn client(dir: &Path, config: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let state = dir.join("state").display().to_string();
    let data = dir.display().to_string();
    let mut all = vec!["--config", config, "--data-dir", &data];
    all.extend(args);
    let mut vars = vec![("XDG_STATE_HOME", state.as_str())];
    vars.extend(env);
    movieapp_env(&all, &vars)
}

/// `movieapp login --user alex`, the password on stdin, keeping the token in the test's
/// state directory.
fn login(dir: &Path, config: &str) -> Run {
    let state = dir.join("state").display().to_string();
    let data = dir.display().to_string();
    crate::support::movieapp_stdin_env(
        &[
            "--config",
            config,
            "--data-dir",
            &data,
            "login",
            "--user",
            "alex",
        ],
        &format!("{PASSWORD}\n"),
        &[("XDG_STATE_HOME", &state)],
    )
}

fn grpcurl(args: &[&str]) -> Option<std::process::Output> {
    let grpcurl = test_tool("GRPCURL")?;
    // Bounded, so that a server that never answers fails the test instead of hanging it.
    let mut all = vec!["-max-time", "20"];
    all.extend(args);
    Some(Command::new(grpcurl).args(all).output().unwrap())
}

fn http_client(ca: &Path) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// The walkthrough of the README's security section: certs init, serve with TLS and auth
/// writes, a user, login, then writes and reads through our CLI, grpcurl, grpcio and
/// HTTPS; plaintext and untrusting clients fail cleanly; an expired token is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tls_and_auth_the_cli_grpcurl_grpcio_and_https_write_and_read() {
    let Secure {
        dir,
        certs,
        config,
        server,
    } = Secure::start(false, &["--log-level", "debug"]);
    let data = dir.path().display().to_string();

    // Our CLI: a write without a token is refused and says what to do; login keeps one.
    let put = [
        "movie",
        "put",
        "1",
        "--title",
        "The Movie",
        "--director",
        "D",
    ];
    let refused = client(dir.path(), &config, &put, &[]);
    assert_eq!(refused.code, Some(1));
    assert!(
        refused.stderr.contains("movieapp login"),
        "{}",
        refused.stderr
    );
    let login = login(dir.path(), &config);
    assert_eq!(login.code, Some(0), "{}", login.stderr);
    let kept = dir.path().join("state/movieapp/token");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    client(dir.path(), &config, &put, &[]).ok();
    client(
        dir.path(),
        &config,
        &["rate", "put", "1", "5", "--user", "alex"],
        &[],
    )
    .ok();
    let got = client(
        dir.path(),
        &config,
        &["movie", "get", "1", "-o", "json"],
        &[],
    )
    .json();
    assert_eq!(got["rating"], 5.0);
    assert_eq!(got["metadata"]["title"], "The Movie");
    // bench-load over TLS (its own HTTP/2 client), with the kept token.
    let load = client(
        dir.path(),
        &config,
        &[
            "bench-load",
            "--addr",
            server.addr("movie"),
            "--call",
            "MovieService/GetMovieDetails",
            "-d",
            r#"{"movie_id":"1"}"#,
            "-n",
            "20",
            "-o",
            "json",
        ],
        &[],
    )
    .json();
    assert_eq!(load["ok"].as_u64(), Some(20), "{load}");
    let token = client(dir.path(), &config, &["auth", "token"], &[]).ok();
    let token = token.trim().to_owned();
    assert!(token.starts_with("eyJ"), "{token}");

    // An expired token: the services say so, and the client says what to do.
    let key = dir.path().join("auth-signing-key.pem");
    let expired = {
        use movieapp::auth::Role;
        let now = jsonwebtoken::get_current_timestamp();
        let claims = movieapp::auth::token::Claims {
            nbf: now - 7200,
            exp: now - 3600,
            ..crate::access::claims("alex", &[Role::Writer])
        };
        crate::access::sign(&key, &claims)
    };
    let said = client(
        dir.path(),
        &config,
        &["rate", "put", "1", "4", "--user", "sam"],
        &[("MOVIEAPP_TOKEN", &expired)],
    );
    assert_eq!(said.code, Some(1));
    assert!(
        said.stderr.contains("token expired; run `movieapp login`"),
        "{}",
        said.stderr
    );
    let said = client(
        dir.path(),
        &config,
        &["auth", "token"],
        &[("MOVIEAPP_TOKEN", &expired)],
    );
    assert!(said.stderr.contains("token expired"), "{}", said.stderr);

    // A client without the CA fails cleanly and suggests --cacert.
    let plain = movieapp_env(&["--data-dir", &data, "movie", "get", "1"], &[]);
    assert_eq!(plain.code, Some(1));
    assert!(plain.stderr.contains("--cacert"), "{}", plain.stderr);

    // The real grpcurl: the book's chapter-10 calls with -cacert.
    let ca = certs.join("ca.crt").display().to_string();
    let auth = server.addr("auth").to_owned();
    let metadata = server.addr("metadata").to_owned();
    let credentials = serde_json::json!({"username": "alex", "password": PASSWORD}).to_string();
    if let Some(out) = grpcurl(&[
        "-cacert",
        &ca,
        "-d",
        &credentials,
        &auth,
        "AuthService/GetToken",
    ]) {
        assert!(out.status.success(), "{out:?}");
        let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let grpc_token = got["token"].as_str().unwrap().to_owned();
        let out = grpcurl(&["-d", &credentials, &auth, "AuthService/GetToken"]).unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert!(
            said.contains("certificate signed by unknown authority"),
            "{said}"
        );
        let out = grpcurl(&[
            "-plaintext",
            "-d",
            &credentials,
            &auth,
            "AuthService/GetToken",
        ])
        .unwrap();
        assert!(!out.status.success(), "plaintext on a TLS port: {out:?}");
        let header = format!("authorization: Bearer {grpc_token}");
        let body = r#"{"metadata":{"id":"2","title":"Second","director":"E"}}"#;
        let out = grpcurl(&[
            "-cacert",
            &ca,
            "-H",
            &header,
            "-d",
            body,
            &metadata,
            "MetadataService/PutMetadata",
        ])
        .unwrap();
        assert!(out.status.success(), "{out:?}");
        let out = grpcurl(&[
            "-cacert",
            &ca,
            "-d",
            body,
            &metadata,
            "MetadataService/PutMetadata",
        ])
        .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("Unauthenticated"),
            "{out:?}"
        );
    }

    // Python grpcio with ssl_channel_credentials drives a protected write.
    if let Some(python) = test_tool("GRPC_TEST_PYTHON") {
        let out = Command::new(python)
            .arg(repo_root().join("tests/python/tls_calls.py"))
            .arg(repo_root().join("proto"))
            .args([&ca, server.addr("rating"), &token])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("all TLS calls ok"),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // HTTPS with the CA, the token as a bearer; plain HTTP is told to use TLS.
    let https = http_client(&certs.join("ca.crt"));
    let rating = server.addr("rating").to_owned();
    let response = https
        .put(format!("https://{rating}/rating?id=3&userId=alex&value=2"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = https
        .get(format!("https://{rating}/rating?id=3"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), "2.0");
    let (status, body) = crate::support::http_get(&rating, "/healthz");
    assert_eq!(status, 400);
    assert!(body.contains("TLS only"), "{body}");

    // Secrets stay out of the log.
    let logs = server.logs();
    assert!(!logs.contains(PASSWORD), "the password is in the log");
    assert!(!logs.contains(&token), "a token is in the log");
    assert!(!logs.contains(&expired), "a token is in the log");
    assert!(!logs.contains("PRIVATE KEY"), "a key is in the log");
}

/// Mutual TLS: clients must present a certificate from the configured CA; the services
/// present theirs to each other. A certificate replaced on disk is served to new
/// connections while open ones keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_needs_a_client_certificate_and_certificates_reload() {
    let Secure {
        dir,
        certs,
        config,
        server,
    } = Secure::start(true, &[]);
    let data = dir.path().display().to_string();
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let other_certs = self::certs(&other);
    let ca = certs.join("ca.crt").display().to_string();
    let cert = certs.join("client.crt").display().to_string();
    let key = certs.join("client.key").display().to_string();

    // Our CLI presents the configured client certificate; the movie service presents it
    // to metadata and rating.
    let login = login(dir.path(), &config);
    assert_eq!(login.code, Some(0), "{}", login.stderr);
    client(
        dir.path(),
        &config,
        &["movie", "put", "1", "--title", "T"],
        &[],
    )
    .ok();
    let got = client(
        dir.path(),
        &config,
        &["movie", "get", "1", "-o", "json"],
        &[],
    )
    .json();
    assert_eq!(got["metadata"]["title"], "T");
    let token = client(dir.path(), &config, &["auth", "token"], &[]).ok();

    // grpcio with and without a client certificate.
    if let Some(python) = test_tool("GRPC_TEST_PYTHON") {
        let out = Command::new(python)
            .arg(repo_root().join("tests/python/tls_calls.py"))
            .arg(repo_root().join("proto"))
            .args([&ca, server.addr("rating"), token.trim(), &cert, &key])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("all TLS calls ok"),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // grpcurl: no client certificate, or one from another CA, is refused.
    let metadata = server.addr("metadata").to_owned();
    let get = r#"{"movie_id":"1"}"#;
    if let Some(out) = grpcurl(&[
        "-cacert",
        &ca,
        "-cert",
        &cert,
        "-key",
        &key,
        "-d",
        get,
        &metadata,
        "MetadataService/GetMetadata",
    ]) {
        assert!(out.status.success(), "{out:?}");
        let out = grpcurl(&[
            "-cacert",
            &ca,
            "-d",
            get,
            &metadata,
            "MetadataService/GetMetadata",
        ])
        .unwrap();
        assert!(!out.status.success(), "no client certificate: {out:?}");
        let foreign_cert = other_certs.join("client.crt").display().to_string();
        let foreign_key = other_certs.join("client.key").display().to_string();
        let out = grpcurl(&[
            "-cacert",
            &ca,
            "-cert",
            &foreign_cert,
            "-key",
            &foreign_key,
            "-d",
            get,
            &metadata,
            "MetadataService/GetMetadata",
        ])
        .unwrap();
        assert!(
            !out.status.success(),
            "a client certificate from another CA: {out:?}"
        );
    }
    let foreign = client(
        dir.path(),
        &config,
        &["movie", "get", "1"],
        &[
            (
                "MOVIEAPP_TLS_CLIENT_CERT",
                &other_certs.join("client.crt").display().to_string(),
            ),
            (
                "MOVIEAPP_TLS_CLIENT_KEY",
                &other_certs.join("client.key").display().to_string(),
            ),
        ],
    );
    assert_eq!(foreign.code, Some(1), "{}", foreign.stderr);

    // A connection made now, before the certificate is replaced.
    let connect = |ca: &Path| {
        let tls = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(
                std::fs::read(ca).unwrap(),
            ))
            .identity(tonic::transport::Identity::from_pem(
                std::fs::read(certs.join("client.crt")).unwrap(),
                std::fs::read(certs.join("client.key")).unwrap(),
            ));
        let endpoint = tonic::transport::Endpoint::from_shared(format!("https://{metadata}"))
            .unwrap()
            .tls_config(tls)
            .unwrap();
        async move { endpoint.connect().await }
    };
    let before = connect(&certs.join("ca.crt")).await.unwrap();
    let mut old = movieapp::pb::metadata_service_client::MetadataServiceClient::new(before);
    let request = || movieapp::pb::GetMetadataRequest {
        movie_id: "1".into(),
    };
    old.get_metadata(request()).await.unwrap();
    let old_ca = dir.path().join("old-ca.crt");
    std::fs::copy(certs.join("ca.crt"), &old_ca).unwrap();
    assert!(handshake(&metadata, &certs, &old_ca).await);

    // Replace every certificate on disk: a new CA, server and client certificate.
    let replaced = crate::support::movieapp(&["--data-dir", &data, "certs", "init", "--force"]);
    assert_eq!(replaced.code, Some(0), "{}", replaced.stderr);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !handshake(&metadata, &certs, &certs.join("ca.crt")).await {
        assert!(
            std::time::Instant::now() < deadline,
            "the new certificate is not served"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // New connections get the new certificate, not the old one; the connection made
    // before keeps working.
    assert!(!handshake(&metadata, &certs, &old_ca).await);
    old.get_metadata(request()).await.unwrap();
    let after = connect(&certs.join("ca.crt")).await.unwrap();
    movieapp::pb::metadata_service_client::MetadataServiceClient::new(after)
        .get_metadata(request())
        .await
        .unwrap();
}

/// Whether a TLS handshake with `addr` succeeds trusting `ca`, presenting the client
/// certificate in `certs`.
async fn handshake(addr: &str, certs: &Path, ca: &Path) -> bool {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(pem_certs(ca));
    let chain = pem_certs(&certs.join("client.crt"));
    let key = pem_key(&certs.join("client.key"));
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    connector.connect(name, tcp).await.is_ok()
}

/// A server certificate that has expired is refused at start, naming the file and the
/// date and how to serve it anyway; with `tls.allowExpired` it is served, with a warning.
#[test]
fn an_expired_server_certificate_is_refused_at_start_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(30);
    params.not_after = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    let cert = params.self_signed(&key).unwrap();
    let (cert_path, key_path) = (dir.path().join("old.crt"), dir.path().join("old.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let yaml = format!(
        "auth:\n  mode: writes\ntls:\n  cert: {}\n  key: {}\n  ca: {}\n",
        cert_path.display(),
        key_path.display(),
        cert_path.display()
    );
    let config = dir.path().join("old.yaml");
    std::fs::write(&config, &yaml).unwrap();
    let data = dir.path().join("data");
    let refused = crate::support::serve_expecting_failure(
        data.to_str().unwrap(),
        &[
            "--services",
            "metadata",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    for needle in ["old.crt", "expired on", "tls.allowExpired"] {
        assert!(
            refused.stderr.contains(needle),
            "{needle}: {}",
            refused.stderr
        );
    }
    std::fs::write(&config, yaml + "  allowExpired: true\n").unwrap();
    let server = crate::support::Server::start_with(
        &data,
        &[
            "--services",
            "metadata",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    assert!(
        server.logs().contains("clients will refuse"),
        "{}",
        server.logs()
    );
}

/// A TLS handshake sent a byte at a time (slowloris on the ClientHello) is cut off
/// `connections.headerReadTimeout` after connecting, however steadily it trickles.
#[test]
fn a_trickling_tls_handshake_is_cut_off_on_time() {
    let dir = tempfile::tempdir().unwrap();
    let certs = certs(dir.path());
    let config = secure_config(dir.path(), &certs, false);
    let yaml = std::fs::read_to_string(&config).unwrap()
        + "connections:\n  headerReadTimeout: 500ms\n  idleTimeout: 1s\n";
    std::fs::write(&config, yaml).unwrap();
    let server = crate::support::Server::start_with(
        dir.path(),
        &["--services", "metadata", "--config", &config],
    );
    // The start of a ClientHello record, then more of it, one byte every 100 ms.
    let hello = [
        0x16u8, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ];
    let lasted = crate::support::trickle(server.addr("metadata"), &hello);
    assert!(
        lasted < Duration::from_secs(10),
        "the handshake lasted {lasted:?}"
    );
}

/// A client that cannot connect is told which TLS setting to change: under mutual TLS,
/// that it needs a client certificate; on a TLS port without the CA, about --cacert;
/// `health` says the same as the other clients.
#[test]
fn a_client_refused_by_tls_is_told_what_to_pass() {
    let secure = Secure::start(true, &[]);
    let movie = secure.server.addr("movie").to_owned();
    let ca = secure.certs.join("ca.crt").display().to_string();
    let data = secure.dir.path().join("client").display().to_string();
    let run = |args: &[&str]| {
        let mut all = vec!["--data-dir", data.as_str()];
        all.extend(args);
        movieapp_env(&all, &[("MOVIEAPP_CONFIG", "")])
    };
    for args in [
        vec!["movie", "get", "1", "--addr", &movie, "--cacert", &ca],
        vec!["health", "--addr", &movie, "--cacert", &ca],
    ] {
        let out = run(&args);
        assert_eq!(out.code, Some(1), "{args:?}: {}", out.stderr);
        // The server's alert, or (TLS 1.3 lets the server hang up after the handshake)
        // a broken connection: either way the hint names the client certificate.
        assert!(
            out.stderr.contains("client certificate") && out.stderr.contains("--cert and --key"),
            "{args:?}: {}",
            out.stderr
        );
    }
    for args in [
        vec!["movie", "get", "1", "--addr", &movie],
        vec!["health", "--addr", &movie],
    ] {
        let out = run(&args);
        assert_eq!(out.code, Some(1), "{args:?}: {}", out.stderr);
        // A plaintext client cannot always tell a TLS port from a broken one (the port
        // may only hang up): the hint names --cacert either way.
        assert!(out.stderr.contains("--cacert"), "{args:?}: {}", out.stderr);
    }
}

/// `movieapp top` reads instances over mutual TLS with the configured CA and certificate,
/// and under auth (its scrapes need no token).
#[test]
fn top_reads_instances_over_mutual_tls() {
    let secure = Secure::start(true, &[]);
    let run = client(
        secure.dir.path(),
        &secure.config,
        &["top", "--once", "--interval", "300ms", "-o", "json"],
        &[],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let snapshot: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let instances = snapshot["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 4, "{snapshot}");
    assert!(
        instances.iter().all(|i| i["state"] == "serving"),
        "{snapshot}"
    );
    // Without the client certificate, it says it cannot read them.
    let data = secure.dir.path().join("elsewhere").display().to_string();
    let ca = secure.certs.join("ca.crt").display().to_string();
    let registry = secure.dir.path().display().to_string();
    let refused = movieapp_env(
        &[
            "--data-dir",
            &registry,
            "--cacert",
            &ca,
            "top",
            "--once",
            "--interval",
            "200ms",
        ],
        &[("MOVIEAPP_CONFIG", ""), ("XDG_STATE_HOME", &data)],
    );
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    assert!(refused.stdout.contains("unreachable"), "{}", refused.stdout);
}
