//! Bad input through the CLI: a clear message naming the value, exit code 2, nothing sent.

use crate::support::{Server, movieapp};

#[track_caller]
fn rejected(args: &[&str], expect: &[&str]) {
    let run = movieapp(args);
    assert_eq!(run.code, Some(2), "{args:?}: {run:#?}");
    for needle in expect {
        assert!(
            run.stderr.contains(needle),
            "{args:?}: {needle:?} not in {}",
            run.stderr
        );
    }
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

#[test]
fn bad_ratings_ids_and_flags_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let rating = server.addr("rating");
    let movie = server.addr("movie");
    let long_id = "x".repeat(256);

    for value in ["0", "6", "abc", "-1", "4.5"] {
        rejected(
            &["rate", "put", "1", value, "--user", "u", "--addr", rating],
            &[
                &format!("invalid rating value \"{value}\""),
                "expected an integer from 1 to 5",
            ],
        );
    }
    rejected(
        &["rate", "put", "", "3", "--user", "u", "--addr", rating],
        &["invalid record id \"\"", "must not be empty"],
    );
    rejected(
        &["rate", "put", "1", "3", "--user", "", "--addr", rating],
        &["invalid user id \"\""],
    );
    rejected(
        &["movie", "get", "", "--addr", movie],
        &["invalid movie id \"\"", "must not be empty"],
    );
    rejected(
        &["movie", "get", &long_id, "--addr", movie],
        &["must be at most 255 bytes", "(256 bytes)"],
    );
    rejected(
        &["rate", "get", &long_id, "--addr", rating],
        &["must be at most 255 bytes"],
    );
    rejected(
        &[
            "movie",
            "put",
            "1",
            "--title",
            &"t".repeat(256),
            "--addr",
            server.addr("metadata"),
        ],
        &["invalid title", "at most 255 bytes"],
    );
    rejected(
        &["movie", "put", "1", "--addr", server.addr("metadata")],
        &["--title"],
    );
    rejected(&["movie", "get", "1", "--output", "xml"], &["xml"]);
    rejected(&["frobnicate"], &["frobnicate"]);

    // Nothing was stored by any of the rejected calls.
    let run = movieapp(&["rate", "get", "1", "--addr", rating]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(run.stderr.contains("ratings not found"), "{}", run.stderr);
}

#[test]
fn bad_configuration_is_a_usage_error_naming_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.yaml");
    std::fs::write(&config, "movie:\n  api:\n    port: seventy\n").unwrap();
    rejected(
        &["movie", "get", "1", "--config", config.to_str().unwrap()],
        &["bad.yaml", "movie.api.port"],
    );

    let run =
        crate::support::movieapp_env(&["movie", "get", "1"], &[("MOVIEAPP_MOVIE_API_PORT", "x")]);
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(
        run.stderr.contains("MOVIEAPP_MOVIE_API_PORT=\"x\""),
        "{}",
        run.stderr
    );

    rejected(
        &["serve", "--log-level", "loud=="],
        &["invalid --log-level"],
    );
}
