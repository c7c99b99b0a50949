//! Data survives a restart of `serve` on the same data directory, and shutdown is graceful.

use crate::support::{Server, movieapp};

#[test]
fn data_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    movieapp(&[
        "movie",
        "put",
        "m1",
        "--title",
        "Kept",
        "--addr",
        server.addr("metadata"),
    ])
    .ok();
    movieapp(&[
        "rate",
        "put",
        "m1",
        "4",
        "--user",
        "a",
        "--addr",
        server.addr("rating"),
    ])
    .ok();
    assert_eq!(server.stop(), Some(0), "SIGTERM is a clean exit");

    for file in ["metadata.db", "rating.db"] {
        assert!(
            dir.path().join(file).exists(),
            "{file} in the data directory"
        );
    }

    let server = Server::start(dir.path());
    let details = movieapp(&[
        "movie",
        "get",
        "m1",
        "--addr",
        server.addr("movie"),
        "-o",
        "json",
    ])
    .json();
    assert_eq!(details["metadata"]["title"], "Kept");
    assert_eq!(details["rating"], 4.0);
    assert_eq!(server.stop(), Some(0));
}

#[test]
fn sigint_is_a_clean_exit_too() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    assert_eq!(server.stop_with("INT"), Some(0));
}
