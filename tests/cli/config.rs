//! `movieapp config check` and `config show`, as an operator uses them before a deploy.

use crate::support::{movieapp, movieapp_env, repo_root};

#[test]
fn check_accepts_the_committed_files_and_rejects_a_bad_one_naming_the_key() {
    let base = repo_root().join("configs/base.yaml");
    let run = movieapp(&["config", "check", base.to_str().unwrap()]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("base.yaml: ok"), "{}", run.stdout);

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "serviceDiscovery:\n  ttl: 5 seconds\n").unwrap();
    let run = movieapp(&["config", "check", bad.to_str().unwrap()]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    for needle in ["bad.yaml", "serviceDiscovery.ttl", "5 seconds", "line 2"] {
        assert!(run.stderr.contains(needle), "{needle}: {}", run.stderr);
    }
    // The file may come from --config too; with none at all, say how to name one.
    let run = movieapp(&["--config", bad.to_str().unwrap(), "config", "check"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    let run = movieapp_env(&["config", "check"], &[("MOVIEAPP_CONFIG", "")]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("no file to check"), "{}", run.stderr);
}

#[test]
fn show_prints_each_value_with_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("movieapp.yaml");
    std::fs::write(&file, "rating:\n  api:\n    port: 9002\n").unwrap();
    let run = movieapp_env(
        &[
            "--config",
            file.to_str().unwrap(),
            "--registry",
            "memory",
            "config",
            "show",
            "--output",
            "json",
        ],
        &[("MOVIEAPP_MOVIE_API_PORT", "9003")],
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let shown: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let at = |key: &str| (shown[key]["value"].clone(), shown[key]["source"].clone());
    assert_eq!(at("metadata.api.port"), (8081.into(), "default".into()));
    assert_eq!(at("rating.api.port"), (9002.into(), "file".into()));
    assert_eq!(
        at("movie.api.port"),
        (9003.into(), "env MOVIEAPP_MOVIE_API_PORT".into())
    );
    assert_eq!(
        at("serviceDiscovery.backend"),
        ("memory".into(), "flag --registry".into())
    );
    // The YAML form is itself a valid configuration file.
    let run = movieapp_env(&["--config", file.to_str().unwrap(), "config", "show"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("port: 9002  # file"), "{}", run.stdout);
    let shown = dir.path().join("shown.yaml");
    std::fs::write(&shown, &run.stdout).unwrap();
    let run = movieapp(&["config", "check", shown.to_str().unwrap()]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}

/// Settings that would break every call while the ports still accept, and faults that
/// name no endpoint (a drill that would silently do nothing), are refused by `config check`
/// and by `serve`, naming the key and what was expected.
#[test]
fn values_that_break_the_service_and_faults_on_unknown_endpoints_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (yaml, needles) in [
        (
            "connections:\n  maxConcurrentStreams: 0\n",
            &["connections.maxConcurrentStreams", "at least 1"][..],
        ),
        (
            "connections:\n  maxHeaderListBytes: 0\n",
            &["connections.maxHeaderListBytes", "at least 4096"][..],
        ),
        (
            "faults:\n  - service: metadata\n    endpoint: Nope\n    delay: 1s\n",
            &["\"Nope\"", "metadata", "GetMetadata", "GET /metadata"][..],
        ),
    ] {
        let file = dir.path().join("bad.yaml");
        std::fs::write(&file, yaml).unwrap();
        let path = file.to_str().unwrap();
        let checked = movieapp(&["config", "check", path]);
        assert_eq!(checked.code, Some(2), "{yaml}: {}", checked.stderr);
        for needle in needles {
            assert!(
                checked.stderr.contains(needle),
                "{yaml}: {}",
                checked.stderr
            );
        }
        let data = dir.path().join("data");
        let served =
            crate::support::serve_expecting_failure(data.to_str().unwrap(), &["--config", path]);
        assert_eq!(served.code, Some(2), "{yaml}: {}", served.stderr);
        assert!(
            served.stderr.contains(needles[0]),
            "{yaml}: {}",
            served.stderr
        );
    }
}

/// A database URL with a password in it is refused, from the environment as from a file,
/// saying where the password goes and never quoting it back.
#[test]
fn a_database_url_with_a_password_is_refused_without_quoting_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let url = "mysql://movie:hunter2secret@db.example:3306/movieapp";
    let run = movieapp_env(
        &["--data-dir", data, "db", "status"],
        &[("MOVIEAPP_DATABASE_URL", url)],
    );
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("MOVIEAPP_DATABASE_URL")
            && run.stderr.contains("MOVIEAPP_DATABASE_PASSWORD"),
        "{}",
        run.stderr
    );
    let file = dir.path().join("db.yaml");
    std::fs::write(&file, format!("database:\n  url: {url}\n")).unwrap();
    let from_file = movieapp(&["--config", file.to_str().unwrap(), "config", "check"]);
    assert_eq!(from_file.code, Some(2), "{}", from_file.stderr);
    for out in [
        &run.stdout,
        &run.stderr,
        &from_file.stdout,
        &from_file.stderr,
    ] {
        assert!(
            !out.contains("hunter2secret"),
            "the password is shown: {out}"
        );
    }
    // A URL that is wrong in another way is still quoted, to show what was read.
    let run = movieapp_env(
        &["--data-dir", data, "db", "status"],
        &[("MOVIEAPP_DATABASE_URL", "mysql://movie@db.example:3306/")],
    );
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("names no database"), "{}", run.stderr);
    assert!(run.stderr.contains("db.example"), "{}", run.stderr);
}
