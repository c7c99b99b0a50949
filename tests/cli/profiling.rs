//! CPU profiles: `/debug/pprof/profile` answers pprof's protobuf (decoded here with the
//! format's schema) while load runs, or a flame graph; it is off by default, checks its
//! input, and under auth answers only an admin token.

use std::io::Read;

use movieapp::profiling::pb::Profile;
use prost::Message;

use crate::{
    access::{add_user, login},
    support::{Server, movieapp},
};

fn profiling_config(dir: &std::path::Path) -> String {
    let config = dir.join("debug.yaml");
    std::fs::write(&config, "debug:\n  profiling: true\n").unwrap();
    config.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_taken_under_load_is_valid_pprof() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let config = profiling_config(dir.path());
    let data = dir.path().to_owned();
    let server =
        tokio::task::spawn_blocking(move || Server::start_with(&data, &["--config", &config]))
            .await
            .unwrap();
    let (movie, meta) = (
        server.addr("movie").to_owned(),
        server.addr("metadata").to_owned(),
    );
    movieapp(&["movie", "put", "1", "--title", "T", "--addr", &meta]).ok();
    // Load while the profile is taken.
    let load = {
        let movie = movie.clone();
        tokio::task::spawn_blocking(move || {
            movieapp(&[
                "bench-load",
                "--addr",
                &movie,
                "--call",
                "MovieService/GetMovieDetails",
                "-d",
                r#"{"movie_id":"1"}"#,
                "--duration",
                "6s",
                "-c",
                "2",
            ])
        })
    };
    let http = reqwest::Client::new();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let response = http
        .get(format!("http://{movie}/debug/pprof/profile?seconds=2"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let gz = response.bytes().await.unwrap();
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut raw)
        .unwrap();
    let profile = Profile::decode(&raw[..]).unwrap();
    let strings = &profile.string_table;
    assert_eq!(strings[0], "");
    let name = |i: i64| strings[usize::try_from(i).unwrap()].as_str();
    let types: Vec<_> = profile
        .sample_type
        .iter()
        .map(|t| (name(t.r#type), name(t.unit)))
        .collect();
    assert_eq!(types, [("samples", "count"), ("cpu", "nanoseconds")]);
    assert!(profile.period > 0);
    assert!(
        profile.duration_nanos >= 1_900_000_000,
        "{}",
        profile.duration_nanos
    );
    assert!(!profile.sample.is_empty(), "no samples under load");
    // Every reference resolves.
    for sample in &profile.sample {
        assert_eq!(sample.value.len(), 2);
        for id in &sample.location_id {
            assert!(
                profile.location.iter().any(|l| l.id == *id),
                "location {id}"
            );
        }
    }
    for location in &profile.location {
        for line in &location.line {
            let function = profile
                .function
                .iter()
                .find(|f| f.id == line.function_id)
                .unwrap();
            assert!(usize::try_from(function.name).unwrap() < strings.len());
        }
    }
    // The samples name movieapp's own code, and not the profiler's.
    let names: Vec<&str> = profile.function.iter().map(|f| name(f.name)).collect();
    assert!(names.iter().any(|n| n.contains("movieapp")), "{names:?}");
    let leaves: Vec<&str> = profile
        .sample
        .iter()
        .filter_map(|s| s.location_id.first())
        .filter_map(|id| profile.location.iter().find(|l| l.id == *id))
        .filter_map(|l| l.line.first())
        .filter_map(|line| profile.function.iter().find(|f| f.id == line.function_id))
        .map(|f| name(f.name))
        .collect();
    assert!(
        !leaves.iter().any(|n| n.starts_with("backtrace::")),
        "{leaves:?}"
    );

    // A flame graph, through the client.
    let svg = dir.path().join("flame.svg");
    let out = movieapp(&[
        "profile",
        "--addr",
        &movie,
        "--seconds",
        "1",
        "-o",
        svg.to_str().unwrap(),
    ])
    .ok();
    assert!(out.contains("flame graph"), "{out}");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.starts_with("<?xml") && text.contains("<svg"),
        "{}",
        &text[..100.min(text.len())]
    );

    load.await.unwrap().ok();

    // Input is checked.
    let bad = http
        .get(format!("http://{movie}/debug/pprof/profile?seconds=301"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("1 to 300"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_are_off_by_default_and_need_an_admin_under_auth() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_owned();
    let off =
        tokio::task::spawn_blocking(move || Server::start_with(&data, &["--services", "metadata"]))
            .await
            .unwrap();
    let http = reqwest::Client::new();
    let url = |addr: &str| format!("http://{addr}/debug/pprof/profile?seconds=1");
    assert_eq!(
        http.get(url(off.addr("metadata")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let run = movieapp(&[
        "profile",
        "--addr",
        off.addr("metadata"),
        "--seconds",
        "1",
        "-o",
        "/dev/null",
    ]);
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("debug.profiling"), "{}", run.stderr);
    drop(off);

    let dir = tempfile::tempdir().unwrap();
    let config = profiling_config(dir.path());
    let data = dir.path().to_owned();
    let server = tokio::task::spawn_blocking(move || {
        Server::start_with_env(
            &data,
            &["--config", &config],
            &[("MOVIEAPP_AUTH_MODE", "writes")],
        )
    })
    .await
    .unwrap();
    let data = dir.path().to_str().unwrap();
    add_user(data, "ada", "admin");
    add_user(data, "walt", "writer");
    let auth = server.addr("auth");
    let (admin, writer) = (login(auth, "ada").await, login(auth, "walt").await);
    let movie = server.addr("movie");
    let status = |token: Option<String>| {
        let mut request = http.get(url(movie));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(status(None).await, 401);
    assert_eq!(status(Some(writer)).await, 403);
    assert_eq!(status(Some(admin.clone())).await, 200);
    // The client sends the token.
    let out = tokio::task::spawn_blocking({
        let (movie, file) = (movie.to_owned(), dir.path().join("cpu.pb.gz"));
        move || {
            movieapp(&[
                "profile",
                "--addr",
                &movie,
                "--seconds",
                "1",
                "-o",
                file.to_str().unwrap(),
                "--token",
                &admin,
            ])
        }
    })
    .await
    .unwrap();
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}

/// A profile whose caller hangs up frees its slot: the next one is taken, not refused
/// with 409 for as long as the first would have run.
#[test]
fn a_profile_whose_caller_hangs_up_frees_the_slot() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let config = profiling_config(dir.path());
    let server = Server::start_with(dir.path(), &["--services", "metadata", "--config", &config]);
    let addr = server.addr("metadata").to_owned();
    let mut first = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        first,
        "GET /debug/pprof/profile?seconds=60 HTTP/1.1\r\nhost: x\r\n\r\n"
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (busy, _) = crate::support::http_get(&addr, "/debug/pprof/profile?seconds=1");
    assert_eq!(busy, 409, "one profile at a time");
    drop(first);
    let started = std::time::Instant::now();
    crate::support::eventually(
        std::time::Duration::from_secs(10),
        "the slot to be freed",
        || crate::support::http_get(&addr, "/debug/pprof/profile?seconds=1&format=svg").0 == 200,
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}
