//! `movieapp certs init`: development certificates that an independent TLS stack (OpenSSL,
//! through Python's ssl module) accepts for TLS and mutual TLS, and refuses across CAs.

use std::process::Command;

use crate::support::{movieapp, repo_root, test_tool};

#[test]
fn certificates_work_with_openssl_for_mutual_tls_and_only_within_their_ca() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let made = movieapp(&["--data-dir", data, "certs", "init"]);
    assert_eq!(made.code, Some(0), "{}", made.stderr);
    assert!(made.stdout.contains("ca.crt"), "{}", made.stdout);
    let other = dir.path().join("other");
    movieapp(&["certs", "init", "--dir", other.to_str().unwrap()]).ok();

    // Nothing is replaced without --force.
    let again = movieapp(&["--data-dir", data, "certs", "init"]);
    assert_eq!(again.code, Some(2));
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    let bad = movieapp(&[
        "--data-dir",
        data,
        "certs",
        "init",
        "--force",
        "--host",
        "a b",
    ]);
    assert_eq!(bad.code, Some(2));
    assert!(
        bad.stderr.contains("invalid host name \"a b\""),
        "{}",
        bad.stderr
    );

    let Some(python) = test_tool("GRPC_TEST_PYTHON") else {
        return;
    };
    let out = Command::new(python)
        .arg(repo_root().join("tests/python/tls_handshake.py"))
        .arg(dir.path().join("certs"))
        .arg(&other)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 5);
}
