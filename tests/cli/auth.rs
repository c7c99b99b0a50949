//! `movieapp auth user`: users with hashed passwords, managed from the command line.

use crate::support::{movieapp, movieapp_stdin};

#[test]
fn users_are_added_listed_changed_and_removed_and_no_password_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let auth = |args: &[&str]| {
        let mut all = vec!["--data-dir", data, "auth", "user"];
        all.extend_from_slice(args);
        all.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = |args: &[&str], input: &str| {
        let args = auth(args);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        movieapp_stdin(&args, input)
    };

    let added = run(&["add", "alex"], "correct horse\n");
    assert_eq!(
        (added.code, added.stdout.trim()),
        (Some(0), "added user alex (writer)")
    );
    let added = run(&["add", "sam", "--role", "reader"], "battery staple\r\n");
    assert_eq!(added.code, Some(0), "{}", added.stderr);

    let again = run(&["add", "alex"], "another password\n");
    assert_eq!(again.code, Some(1));
    assert!(
        again.stderr.contains("user alex already exists"),
        "{}",
        again.stderr
    );

    // Bad input: a usage error naming the problem, and nothing added.
    for (args, input, expected) in [
        (
            vec!["add", "kim"],
            "short\n",
            "too short: expected at least 8 characters",
        ),
        (vec!["add", "kim"], "", "no password on standard input"),
        (
            vec!["add", "bad name"],
            "long enough\n",
            "invalid user name \"bad name\"",
        ),
        (
            vec!["add", "kim", "--role", "root"],
            "long enough\n",
            "expected reader, writer or admin",
        ),
    ] {
        let refused = run(&args, input);
        assert_eq!(refused.code, Some(2), "{args:?}: {}", refused.stderr);
        assert!(
            refused.stderr.contains(expected),
            "{args:?}: {}",
            refused.stderr
        );
        assert!(!refused.stderr.contains("long enough") && !refused.stderr.contains("short\n"));
    }

    let listed = run(&["list", "-o", "json"], "").json();
    let users: Vec<(&str, &str)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["name"].as_str().unwrap(), u["role"].as_str().unwrap()))
        .collect();
    assert_eq!(users, [("alex", "writer"), ("sam", "reader")]);
    let table = run(&["list"], "").ok();
    assert!(table.contains("alex") && table.contains("reader") && !table.contains("argon2"));

    let changed = run(&["passwd", "alex"], "a new password\n");
    assert_eq!(changed.stdout.trim(), "changed the password of alex");
    let unknown = run(&["passwd", "nobody"], "a new password\n");
    assert_eq!(unknown.code, Some(1));
    assert!(
        unknown.stderr.contains("no user nobody"),
        "{}",
        unknown.stderr
    );

    assert_eq!(
        run(&["remove", "sam"], "").stdout.trim(),
        "removed user sam"
    );
    assert_eq!(run(&["remove", "sam"], "").code, Some(1));

    // No password on disk, in the database or its write-ahead log: only Argon2id hashes.
    let mut hashes = 0;
    for file in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(file.unwrap().path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for password in ["correct horse", "battery staple", "a new password"] {
            assert!(!text.contains(password), "{password:?} on disk");
        }
        hashes += text.matches("$argon2id$").count();
    }
    assert!(hashes >= 1, "the hashes are there");
}

#[test]
fn listing_a_data_directory_without_users_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let run = movieapp(&[
        "--data-dir",
        dir.path().to_str().unwrap(),
        "auth",
        "user",
        "list",
    ]);
    assert_eq!(run.code, Some(2));
    assert!(run.stderr.contains("no user database at"), "{}", run.stderr);
    assert!(!dir.path().join("auth.db").exists(), "nothing created");
}
