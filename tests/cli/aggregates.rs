//! The rating service keeps each record's count and sum beside its ratings: a SIGKILL during
//! concurrent writes leaves none wrong, `movieapp db check` finds any made wrong behind its
//! back and `--repair` fixes them, and ratings stored before the aggregates existed are
//! counted by the migration.

use std::{path::Path, time::Duration};

use crate::support::{Server, movieapp};

/// `db check` on the data directory, as JSON: its exit code and the differences.
fn check(dir: &Path, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let data = dir.to_str().unwrap();
    let mut args = vec!["--data-dir", data, "db", "check", "-o", "json"];
    args.extend(extra);
    let run = movieapp(&args);
    let code = run.code;
    let json = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} {}", run.stdout, run.stderr));
    (code, json)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_during_concurrent_writes_leaves_no_aggregate_wrong() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &["--services", "rating"]);
    let rating = format!("http://{}", server.addr("rating"));
    let client = reqwest::Client::new();
    // Eight writers over five records and forty users: new ratings, and ratings replaced
    // by other values, so that sums move both ways.
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (client, rating) = (client.clone(), rating.clone());
            tokio::spawn(async move {
                let mut acknowledged = 0u32;
                for n in 0u32.. {
                    let url = format!(
                        "{rating}/rating?id=r{}&type=movie&userId=u{}&value={}",
                        n % 5,
                        (n * 7 + w) % 40,
                        (n + w) % 5 + 1
                    );
                    match client.put(url).send().await {
                        Ok(r) if r.status() == 200 => acknowledged += 1,
                        _ => break,
                    }
                }
                acknowledged
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill();
    let mut acknowledged = 0;
    for w in writers {
        acknowledged += w.await.unwrap();
    }
    assert!(
        acknowledged > 100,
        "only {acknowledged} writes before the kill"
    );

    let (code, found) = check(dir.path(), &[]);
    assert_eq!(found["differences"], serde_json::json!([]), "{found}");
    assert_eq!(code, Some(0));
}

#[test]
fn db_check_finds_aggregates_changed_behind_its_back_and_repairs_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &["--services", "rating"]);
    let addr = server.addr("rating").to_owned();
    for (user, value) in [("a", "4"), ("b", "5")] {
        movieapp(&["rate", "put", "m1", value, "--user", user, "--addr", &addr]).ok();
    }
    movieapp(&["rate", "put", "m2", "3", "--user", "a", "--addr", &addr]).ok();
    assert_eq!(
        check(dir.path(), &[]).0,
        Some(0),
        "nothing to find while serving"
    );

    let db = rusqlite::Connection::open(dir.path().join("rating.db")).unwrap();
    db.execute_batch(
        "UPDATE rating_aggregates SET sum = sum + 10 WHERE record_id = 'm1';
         DELETE FROM rating_aggregates WHERE record_id = 'm2';",
    )
    .unwrap();
    let (code, found) = check(dir.path(), &[]);
    assert_eq!(code, Some(1), "{found}");
    let differences = found["differences"].as_array().unwrap();
    assert_eq!(differences.len(), 2, "{found}");
    assert!(found.to_string().contains(r#""record_id":"m1""#), "{found}");
    // The table names them too, and says how to repair.
    let data = dir.path().to_str().unwrap();
    let table = movieapp(&["--data-dir", data, "db", "check"]);
    assert_eq!(table.code, Some(1));
    assert!(
        table.stdout.contains("m1") && table.stdout.contains("m2"),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("--repair"), "{}", table.stdout);
    // While serving, the wrong aggregate is what a read sees, until repaired.
    let (code, repaired) = check(dir.path(), &["--repair"]);
    assert_eq!((code, &repaired["repaired"]), (Some(0), &true.into()));
    assert_eq!(check(dir.path(), &[]).0, Some(0));
    std::thread::sleep(Duration::from_millis(1100)); // the cache's time to live
    let read = movieapp(&["rate", "get", "m1", "--addr", &addr, "-o", "json"]).json();
    assert_eq!(read["rating"], 4.5, "{read}");
}

#[test]
fn ratings_stored_before_the_aggregates_existed_are_kept_and_counted_by_the_migrations() {
    let dir = tempfile::tempdir().unwrap();
    // A rating.db as the first schema made it: ratings only.
    let db = rusqlite::Connection::open(dir.path().join("rating.db")).unwrap();
    db.execute_batch(
        "CREATE TABLE ratings (
            record_id TEXT, record_type TEXT, user_id TEXT, value INTEGER,
            PRIMARY KEY (record_id, record_type, user_id));
         INSERT INTO ratings VALUES ('old', 'movie', 'a', 1), ('old', 'movie', 'b', 2),
                                    ('old', 'movie', 'c', 4), ('x', 'series', 'a', 5);
         PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(db);
    let data = dir.path().to_str().unwrap();
    let refused = movieapp(&["--data-dir", data, "db", "check"]);
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("movieapp db migrate"),
        "{}",
        refused.stderr
    );
    movieapp(&["--data-dir", data, "db", "migrate"]).ok();
    assert_eq!(check(dir.path(), &[]).0, Some(0));
    // Every rating was carried over into the table clustered by its key (no rowid).
    let db = rusqlite::Connection::open(dir.path().join("rating.db")).unwrap();
    let rows: Vec<(String, String, String, i64)> = db
        .prepare("SELECT record_id, record_type, user_id, value FROM ratings ORDER BY 1, 2, 3")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let row =
        |id: &str, kind: &str, user: &str, value| (id.into(), kind.into(), user.into(), value);
    assert_eq!(
        rows,
        [
            row("old", "movie", "a", 1),
            row("old", "movie", "b", 2),
            row("old", "movie", "c", 4),
            row("x", "series", "a", 5)
        ]
    );
    assert!(db.prepare("SELECT rowid FROM ratings").is_err());
    drop(db);

    let server = Server::start_with(dir.path(), &["--services", "rating"]);
    let addr = server.addr("rating").to_owned();
    let read = movieapp(&["rate", "get", "old", "--addr", &addr, "-o", "json"]).json();
    assert_eq!(read["rating"].as_f64(), Some(7.0 / 3.0), "{read}");
    // The next write adjusts what the migration counted.
    movieapp(&["rate", "put", "old", "5", "--user", "a", "--addr", &addr]).ok();
    let read = movieapp(&["rate", "get", "old", "--addr", &addr, "-o", "json"]).json();
    assert_eq!(read["rating"].as_f64(), Some(11.0 / 3.0), "{read}");
}
