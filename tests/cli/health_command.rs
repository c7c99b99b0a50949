//! `movieapp health`: one gRPC health check, exit 0 when SERVING, 1 otherwise.

use std::time::{Duration, Instant};

use crate::support::{Server, movieapp};

#[test]
fn health_answers_serving_not_serving_unknown_and_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let metadata = server.addr("metadata").to_owned();
    let run = |args: &[&str]| movieapp(&[&["health", "--addr", &metadata], args].concat());

    let ok = run(&[]);
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
    assert_eq!(
        ok.stdout.trim(),
        format!("the server at {metadata}: SERVING")
    );
    assert_eq!(run(&["--service", "MetadataService"]).code, Some(0));
    // movieapp's own name for it, as the README and `registry` use.
    let short = run(&["--service", "metadata"]);
    assert_eq!(short.code, Some(0), "{}", short.stderr);
    assert!(
        short.stdout.contains("MetadataService at"),
        "{}",
        short.stdout
    );
    let unknown = run(&["--service", "Nope"]);
    assert_eq!(unknown.code, Some(1));
    assert!(
        unknown.stderr.contains("Nope at") && unknown.stderr.contains("unknown service"),
        "{}",
        unknown.stderr
    );

    // The database goes missing: not ready, so NOT_SERVING within a second or two.
    std::fs::rename(dir.path().join("metadata.db"), dir.path().join("moved.db")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let not_serving = loop {
        let got = run(&["--service", "MetadataService"]);
        if got.code != Some(0) || Instant::now() > deadline {
            break got;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(not_serving.code, Some(1), "{}", not_serving.stderr);
    assert!(
        not_serving.stderr.contains("NOT_SERVING"),
        "{}",
        not_serving.stderr
    );

    let nothing = movieapp(&["health", "--addr", "127.0.0.1:1"]);
    assert_eq!(nothing.code, Some(1));
    assert!(nothing.stderr.contains("127.0.0.1:1"), "{}", nothing.stderr);
    let bad = movieapp(&["health", "--addr", "no-port"]);
    assert_eq!(bad.code, Some(2));
}

#[test]
fn health_speaks_tls_with_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let certs = crate::tls::certs(dir.path());
    let c = |name: &str| certs.join(name).display().to_string();
    let config = dir.path().join("tls.yaml");
    std::fs::write(
        &config,
        format!(
            "tls:\n  cert: {}\n  key: {}\n  ca: {}\n",
            c("server.crt"),
            c("server.key"),
            c("ca.crt")
        ),
    )
    .unwrap();
    let server = Server::start_with(dir.path(), &["--config", config.to_str().unwrap()]);
    let addr = server.addr("movie");
    let ok = movieapp(&["health", "--addr", addr, "--cacert", &c("ca.crt")]);
    assert_eq!(ok.code, Some(0), "{}", ok.stderr);
    let plain = movieapp(&["health", "--addr", addr]);
    assert_eq!(plain.code, Some(1), "{}", plain.stderr);
}
