//! `database.url: mysql://…` end to end, against the real MariaDB server scripts/test.sh
//! starts (MYSQL_TEST_URL): the book's flow, two hosts sharing one database,
//! migrations run apart from `serve`, and a database restart survived.

use std::{process::Command, time::Duration};

use crate::support::{
    Server, eventually, http_get_full, movieapp, movieapp_env, repo_root, test_tool,
};

/// The password of the server's `movie` user (scripts/mariadb.sh).
const PASSWORD: &str = "movie-test-pw";

/// A MariaDB server: the shared one, or one of a test's own.
struct MariaDb {
    host: String,
    port: String,
    /// Set for a server of the test's own, removed on drop.
    own_dir: Option<String>,
}

impl MariaDb {
    /// The server scripts/test.sh started; `None` (skipped) outside it.
    fn shared() -> Option<Self> {
        let url = test_tool("MYSQL_TEST_URL")?;
        Some(Self::at(&url, None))
    }

    fn at(url: &str, own_dir: Option<String>) -> Self {
        let authority = url
            .strip_prefix("mysql://root@")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| panic!("unexpected MYSQL_TEST_URL {url:?}"));
        let (host, port) = authority.split_once(':').expect("host:port");
        Self {
            host: host.to_owned(),
            port: port.to_owned(),
            own_dir,
        }
    }

    /// A server of the test's own, to stop and start.
    fn own() -> Option<Self> {
        test_tool("MYSQL_TEST_URL")?;
        let out = Command::new(repo_root().join("scripts/mariadb.sh"))
            .arg("start")
            .output()
            .expect("run scripts/mariadb.sh");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let value = |name: &str| {
            text.lines()
                .find_map(|l| {
                    l.strip_prefix(&format!("export {name}='"))?
                        .strip_suffix('\'')
                })
                .unwrap_or_else(|| panic!("{name} not in {text}"))
                .to_owned()
        };
        Some(Self::at(
            &value("MYSQL_TEST_URL"),
            Some(value("MARIADB_TEST_DIR")),
        ))
    }

    /// Runs the script's `up` or `down` on a server of the test's own.
    fn script(&self, verb: &str) {
        let dir = self.own_dir.as_deref().expect("a server of the test's own");
        let status = Command::new(repo_root().join("scripts/mariadb.sh"))
            .args([verb, dir])
            .status()
            .unwrap();
        assert!(status.success(), "scripts/mariadb.sh {verb}");
    }

    /// Runs SQL as root.
    fn sql(&self, statement: &str) -> String {
        let out = Command::new("mariadb")
            .args([
                "--no-defaults",
                "-N",
                "-uroot",
                "-h",
                &self.host,
                "-P",
                &self.port,
            ])
            .args(["-e", statement])
            .output()
            .expect("run the mariadb client");
        assert!(
            out.status.success(),
            "{statement}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// A new, empty database, and the environment that points movieapp at it as `movie`.
    fn database(&self, tag: &str) -> Vec<(&'static str, String)> {
        let name = format!("e2e_{tag}_{}", std::process::id());
        self.sql(&format!(
            "DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name}"
        ));
        vec![
            (
                "MOVIEAPP_DATABASE_URL",
                format!("mysql://movie@{}:{}/{name}", self.host, self.port),
            ),
            ("MOVIEAPP_DATABASE_PASSWORD", PASSWORD.to_owned()),
        ]
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.own_dir {
            let _ = Command::new(repo_root().join("scripts/mariadb.sh"))
                .args(["stop", dir])
                .status();
        }
    }
}

fn borrowed<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[test]
fn the_books_flow_on_mysql_shared_by_two_hosts() {
    let Some(db) = MariaDb::shared() else {
        return;
    };
    let env = db.database("flow");
    let env = borrowed(&env);
    // Two hosts: each its own data directory (so its own registry), one database.
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let debug = ["--log-level", "debug"];
    let a = Server::start_with_env(dir_a.path(), &debug, &env);
    let b = Server::start_with_env(dir_b.path(), &debug, &env);
    crate::book_flow::books_flow(&a);

    // The other host sees what the first wrote.
    let details = |server: &Server| {
        movieapp(&[
            "movie",
            "get",
            "the-movie",
            "--addr",
            server.addr("movie"),
            "-o",
            "json",
        ])
        .json()
    };
    assert_eq!(details(&b)["rating"], 2.5);
    assert_eq!(details(&b)["metadata"]["title"], "The Movie");
    // A write through the second host reaches the first within the cache's second.
    movieapp(&[
        "rate",
        "put",
        "the-movie",
        "5",
        "--user",
        "user2",
        "--addr",
        b.addr("rating"),
    ])
    .ok();
    movieapp(&[
        "movie",
        "put",
        "the-movie",
        "--title",
        "The Movie II",
        "--addr",
        b.addr("metadata"),
    ])
    .ok();
    eventually(
        Duration::from_secs(3),
        "host A sees host B's writes",
        || {
            let d = details(&a);
            d["rating"] == serde_json::json!(10.0 / 3.0) && d["metadata"]["title"] == "The Movie II"
        },
    );
    // The rows are in MySQL, in the book's tables.
    let rows = db.sql(&format!(
        "SELECT COUNT(*) FROM {}.ratings",
        env[0].1.rsplit('/').next().unwrap()
    ));
    assert_eq!(rows.trim(), "3");
    // The password appears in no log, even at debug level.
    for server in [&a, &b] {
        let logs = server.logs();
        assert!(logs.contains("connecting to MySQL"), "{logs}");
        assert!(!logs.contains(PASSWORD), "the password is in the logs");
    }
}

#[test]
fn migrations_can_run_apart_from_serve() {
    let Some(db) = MariaDb::shared() else {
        return;
    };
    let env = db.database("migrate");
    let mut env = borrowed(&env);
    env.push(("MOVIEAPP_DATABASE_AUTO_MIGRATE", "false"));
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let status = || {
        movieapp_env(
            &["--data-dir", data_dir, "db", "status", "-o", "json"],
            &env,
        )
        .json()
    };
    let pending = status();
    assert_eq!(pending[0]["schema"], "metadata");
    assert_eq!(pending[0]["state"], "2 pending", "{pending}");

    // With autoMigrate off, serve refuses an outdated schema, saying what to run.
    let mut refused = Command::new(crate::support::BIN);
    refused
        .args([
            "--data-dir",
            data_dir,
            "serve",
            "--services",
            "metadata,rating",
        ])
        .args(crate::support::free_ports(&[]))
        .envs(env.iter().copied());
    let out = refused.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("movieapp db migrate"), "{stderr}");

    // Several migrations at once: each version is applied once.
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let env: Vec<(String, String)> = env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            let data_dir = data_dir.to_owned();
            std::thread::spawn(move || {
                let env: Vec<(&str, &str)> =
                    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                let run = movieapp_env(
                    &["--data-dir", &data_dir, "db", "migrate", "-o", "json"],
                    &env,
                );
                // Like the other clients, it logs at warn: its output is the answer.
                assert!(!run.stderr.contains(" INFO "), "{}", run.stderr);
                run.json()
            })
        })
        .collect();
    let applied: u64 = runs
        .into_iter()
        .map(|r| {
            let rows = r.join().unwrap();
            rows.as_array()
                .unwrap()
                .iter()
                .map(|row| row["applied_now"].as_u64().unwrap())
                .sum::<u64>()
        })
        .sum();
    assert_eq!(
        applied, 6,
        "metadata's two migrations and rating's four, applied once each"
    );
    let current = status();
    assert_eq!(current[0]["state"], "current", "{current}");
    assert_eq!(current[1]["state"], "current", "{current}");
    let name = env[0].1.rsplit('/').next().unwrap();
    let history = db.sql(&format!(
        "SELECT component, version FROM {name}.movieapp_migrations ORDER BY 1, 2"
    ));
    assert_eq!(
        history,
        "metadata\t1\nmetadata\t2\nrating\t1\nrating\t2\nrating\t3\nrating\t4\n"
    );

    // Now serve starts, and works.
    let server = Server::start_with_env(dir.path(), &["--services", "metadata,rating"], &env);
    movieapp(&[
        "movie",
        "put",
        "1",
        "--title",
        "One",
        "--addr",
        server.addr("metadata"),
    ])
    .ok();

    // A wrong password is a configuration error, exit 2, and the message says what to check.
    let mut wrong = env.clone();
    wrong.retain(|(k, _)| *k != "MOVIEAPP_DATABASE_PASSWORD");
    wrong.push(("MOVIEAPP_DATABASE_PASSWORD", "not-the-password"));
    let run = movieapp_env(&["--data-dir", data_dir, "db", "status"], &wrong);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(
        run.stderr.contains("MOVIEAPP_DATABASE_PASSWORD"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("not-the-password"), "{}", run.stderr);
}

#[test]
fn a_database_restart_is_survived_without_restarting_serve() {
    let Some(db) = MariaDb::own() else {
        return;
    };
    let env = db.database("restart");
    let env = borrowed(&env);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(dir.path(), &[], &env);
    let (meta, rating) = (server.addr("metadata"), server.addr("rating"));
    movieapp(&["movie", "put", "1", "--title", "One", "--addr", meta]).ok();
    movieapp(&["rate", "put", "1", "4", "--user", "u", "--addr", rating]).ok();

    db.script("down");
    // Writes fail as UNAVAILABLE, which callers may retry, not as an internal error.
    let run = movieapp(&["rate", "put", "1", "5", "--user", "v", "--addr", rating]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(run.stderr.contains("unavailable"), "{}", run.stderr);
    assert!(!run.stderr.contains("internal"), "{}", run.stderr);
    // Readiness says why, on HTTP and gRPC.
    eventually(
        Duration::from_secs(10),
        "metadata reports not ready",
        || {
            let (code, _, body) = http_get_full(meta, "/readyz");
            code == 503 && body.contains("database")
        },
    );
    eventually(
        Duration::from_secs(5),
        "gRPC health says NOT_SERVING",
        || movieapp(&["health", "--addr", meta]).code == Some(1),
    );

    db.script("up");
    eventually(Duration::from_secs(15), "metadata is ready again", || {
        http_get_full(meta, "/readyz").0 == 200
    });
    movieapp(&["rate", "put", "1", "5", "--user", "v", "--addr", rating]).ok();
    let aggregate =
        movieapp(&["rate", "get", "1", "--addr", rating, "-o", "json"]).json()["rating"].clone();
    assert_eq!(aggregate, 4.5);
    assert_eq!(
        movieapp(&[
            "movie",
            "get",
            "1",
            "--addr",
            server.addr("movie"),
            "-o",
            "json"
        ])
        .json()["metadata"]["title"],
        "One"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_on_one_mysql_see_each_others_writes_at_once_with_events_on() {
    let Some(db) = MariaDb::shared() else {
        return;
    };
    let env = db.database("events");
    let env = borrowed(&env);
    // One data directory (so one embedded broker, and one lock for the outbox relay), one
    // database.
    let dir = tempfile::tempdir().unwrap();
    let a = Server::start_with_env(dir.path(), &[], &env);
    let b = Server::start_with_env(dir.path(), &[], &env);
    let delays = crate::events::staleness(&a, &b, 20).await;
    eprintln!("MySQL, events on: {delays:?} ms");
    assert!(delays[delays.len() - 2] < 500, "{delays:?}");
}
