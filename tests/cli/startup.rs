//! Start-up problems: one line naming the problem, exit code 2, never a panic.

use crate::support::{BIN, Server, movieapp, serve_expecting_failure};

#[test]
fn a_port_in_use_is_exit_2_with_one_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let run = serve_expecting_failure(data_dir, &["--rating-port", &port]);
    assert_eq!(run.code, Some(2), "{run:#?}");
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].contains(&format!("127.0.0.1:{port}")),
        "{}",
        errors[0]
    );
    assert!(errors[0].contains("rating"), "{}", errors[0]);
    assert!(errors[0].contains("--rating-port"), "{}", errors[0]);
    assert!(!run.stderr.contains("panicked"));
}

#[test]
fn an_unusable_data_directory_is_exit_2() {
    // Tests may run as root, which can write anywhere: use a path below a regular file.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let data_dir = file.join("data");
    let run = serve_expecting_failure(data_dir.to_str().unwrap(), &[]);
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(
        run.stderr.contains(data_dir.to_str().unwrap()),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"));
}

#[test]
fn a_corrupt_database_names_the_file_and_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rating.db"), vec![b'x'; 8192]).unwrap();
    let run = serve_expecting_failure(dir.path().to_str().unwrap(), &[]);
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert!(run.stderr.contains("rating.db"), "{}", run.stderr);
    assert!(run.stderr.contains("not a database"), "{}", run.stderr);
}

#[test]
fn a_subset_of_services_runs_alone() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &["--services", "metadata,rating"]);
    assert_eq!(server.addrs.len(), 2);
    assert!(!server.addrs.contains_key("movie"));
    movieapp(&[
        "movie",
        "put",
        "1",
        "--title",
        "T",
        "--addr",
        server.addr("metadata"),
    ])
    .ok();
    assert!(dir.path().join("metadata.db").exists());
}

#[test]
fn help_teaches_and_version_answers() {
    let run = movieapp(&["--help"]);
    assert_eq!(run.code, Some(0));
    for needle in ["serve", "movie", "rate", "completions", "Examples:"] {
        assert!(
            run.stdout.contains(needle),
            "{needle} in --help: {}",
            run.stdout
        );
    }
    let run = movieapp(&["serve", "--help"]);
    for needle in [
        "--services",
        "--metadata-port",
        "MOVIEAPP_DATA_DIR",
        "SIGTERM",
    ] {
        assert!(
            run.stdout.contains(needle),
            "{needle} in serve --help: {}",
            run.stdout
        );
    }
    let run = movieapp(&["--version"]);
    assert_eq!(run.code, Some(0));
    assert!(run.stdout.starts_with("movieapp "), "{}", run.stdout);
    let _ = BIN;
}
