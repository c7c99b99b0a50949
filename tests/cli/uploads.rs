//! Movie files end to end: `UploadFile` over real gRPC and `PUT /movie/upload` over HTTP,
//! names that would escape the data directory, the size limit, clients that go away, and
//! concurrent uploads of one name; then the movie processor, its lock and its fencing,
//! with two real processes.

use std::{
    io::Write,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use movieapp::pb::{self, movie_service_client::MovieServiceClient};
use tonic::Code;

use crate::support::{
    BIN, Server, eventually, movieapp, processed_by, processor_pid, signal, upload as upload_file,
    wait_with_timeout,
};

/// Files left in the uploads' temp directory.
fn partial(data_dir: &Path) -> usize {
    std::fs::read_dir(data_dir.join("uploads/.partial"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn files(addr: &str, movie: &str) -> serde_json::Value {
    movieapp(&["movie", "files", movie, "--addr", addr, "-o", "json"]).json()
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_50_mb_file_round_trips_and_the_processor_checks_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &["--services", "movie"]);
    let movie = server.addr("movie");
    let file = dir.path().join("trailer.bin");
    let bytes: Vec<u8> = (0..50_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&file, &bytes).unwrap();
    let expected = sha256_hex(&bytes);
    let out = movieapp(&[
        "movie",
        "upload",
        "1",
        file.to_str().unwrap(),
        "--addr",
        movie,
        "-o",
        "json",
    ])
    .json();
    assert_eq!(out["sha256"], expected.as_str());
    assert_eq!(out["size"], 50_000_000);
    // Stored whole under the data directory, by movie and name.
    let stored = std::fs::read(dir.path().join("uploads/1/trailer.bin")).unwrap();
    assert!(stored == bytes, "the stored bytes differ");
    // The processor reads it back and records it, with its fencing token.
    eventually(Duration::from_secs(20), "the file is processed", || {
        files(movie, "1")[0]["state"] == "processed"
    });
    let listed = files(movie, "1");
    assert_eq!(listed[0]["sha256"], expected.as_str());
    assert_eq!(listed[0]["contentType"], "application/octet-stream");
    assert!(listed[0]["processedByToken"].as_u64().unwrap() >= 1);
    // The CLI's JSON is the HTTP API's, key for key and value for value.
    let (status, body) = crate::support::http_get(movie, "/movie/files?id=1");
    assert_eq!(status, 200, "{body}");
    let http: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listed, http);
    assert_eq!(partial(dir.path()), 0);
}

async fn upload(
    client: &mut MovieServiceClient<tonic::transport::Channel>,
    movie: &str,
    name: &str,
    chunks: Vec<Vec<u8>>,
) -> Result<pb::UploadResponse, tonic::Status> {
    let (movie, name) = (movie.to_owned(), name.to_owned());
    let messages = chunks
        .into_iter()
        .enumerate()
        .map(move |(i, chunk)| pb::UploadRequest {
            filename: if i == 0 { name.clone() } else { String::new() },
            chunk,
            movie_id: if i == 0 { movie.clone() } else { String::new() },
        });
    client
        .upload_file(tokio_stream::iter(messages))
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_names_oversized_uploads_and_vanished_clients_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("small.yaml");
    std::fs::write(&config, "uploads:\n  maxBytes: 1000000\n").unwrap();
    let (data_dir, config_arg) = (dir.path().to_owned(), config.to_str().unwrap().to_owned());
    let server = tokio::task::spawn_blocking(move || {
        Server::start_with(&data_dir, &["--services", "movie", "--config", &config_arg])
    })
    .await
    .unwrap();
    let mut client = MovieServiceClient::new(server.channel("movie").await);

    // Names are checked, never used as paths.
    for name in ["../x", "/etc/passwd", "a\0b", "..", "", "a/b"] {
        let status = upload(&mut client, "1", name, vec![b"x".to_vec()])
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{name:?}: {status:?}");
        assert!(
            status.message().contains("filename"),
            "{name:?}: {}",
            status.message()
        );
    }
    assert!(!dir.path().join("x").exists());

    // Over the limit: refused, nothing stored, nothing left over.
    let status = upload(
        &mut client,
        "1",
        "big.bin",
        vec![vec![7; 600_000], vec![7; 600_000]],
    )
    .await
    .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("1000000"), "{}", status.message());
    assert!(!dir.path().join("uploads/1/big.bin").exists());
    assert_eq!(partial(dir.path()), 0);

    // Over HTTP too: 413.
    let http = server.addr("movie").to_owned();
    let (code, body) = tokio::task::spawn_blocking(move || {
        put(
            &http,
            "/movie/upload?id=1&filename=big.bin",
            &vec![7; 1_200_000],
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 413, "{body}");
    assert_eq!(partial(dir.path()), 0);

    // A client that goes away mid-stream: its temp file is removed, nothing is stored.
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::UploadRequest>(4);
    let mut streaming = client.clone();
    let call = tokio::spawn(async move {
        streaming
            .upload_file(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
    });
    tx.send(pb::UploadRequest {
        filename: "cut.bin".into(),
        chunk: vec![1; 64 * 1024],
        movie_id: "1".into(),
    })
    .await
    .unwrap();
    let watched = dir.path().to_owned();
    tokio::task::spawn_blocking(move || {
        eventually(Duration::from_secs(5), "the upload is in progress", || {
            partial(&watched) == 1
        })
    })
    .await
    .unwrap();
    call.abort();
    drop(tx);
    let watched = dir.path().to_owned();
    tokio::task::spawn_blocking(move || {
        eventually(
            Duration::from_secs(5),
            "the partial upload is removed",
            || partial(&watched) == 0,
        )
    })
    .await
    .unwrap();
    assert!(!dir.path().join("uploads/1/cut.bin").exists());

    // Two uploads of one name at once: the file is one of them whole, and its record
    // matches it.
    let (a, b) = (vec![b'a'; 300_000], vec![b'b'; 300_000]);
    let chunks = |v: &Vec<u8>| v.chunks(10_000).map(<[u8]>::to_vec).collect::<Vec<_>>();
    let (mut ca, mut cb) = (client.clone(), client.clone());
    let (ra, rb) = tokio::join!(
        upload(&mut ca, "1", "same.bin", chunks(&a)),
        upload(&mut cb, "1", "same.bin", chunks(&b))
    );
    ra.unwrap();
    rb.unwrap();
    let stored = std::fs::read(dir.path().join("uploads/1/same.bin")).unwrap();
    assert!(stored == a || stored == b, "the uploads were mixed");
    let listed = client
        .list_files(pb::ListFilesRequest {
            movie_id: "1".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .files;
    let same = listed.iter().find(|f| f.filename == "same.bin").unwrap();
    assert_eq!(same.sha256, sha256_hex(&stored));
}

/// A raw HTTP/1.1 PUT's head, announcing `length` bytes of body, sent on a new connection.
fn start_put(addr: &str, path: &str, length: usize) -> std::net::TcpStream {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "PUT {path} HTTP/1.1\r\nHost: movieapp\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    stream
}

/// A raw HTTP/1.1 PUT: the status and body.
fn put(addr: &str, path: &str, body: &[u8]) -> (u16, String) {
    use std::io::Read;
    let mut stream = start_put(addr, path, body.len());
    // The server may answer (413) and close before the whole body is sent.
    let _ = stream.write_all(body);
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (code, body)
}

/// `serve --services movie` on `dir` with short leases, logging the processor.
fn processor(dir: &Path, config: &Path) -> Server {
    Server::start_with(
        dir,
        &[
            "--services",
            "movie",
            "--config",
            config.to_str().unwrap(),
            "--log-level",
            "movieapp::uploads=info,movieapp::lock=info,warn",
        ],
    )
}

#[test]
fn a_paused_processor_is_replaced_and_fenced_off() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("leases.yaml");
    std::fs::write(&config, "lock:\n  ttl: 1s\n  lockDelay: 1s\n").unwrap();
    let (data_dir, config_arg) = (dir.path().to_str().unwrap(), config.to_str().unwrap());
    // Two movie instances on one host: their processors compete for one lock.
    let first = processor(dir.path(), &config);
    let second = processor(dir.path(), &config);
    let holder_pid = || processor_pid(data_dir, config_arg);
    eventually(
        Duration::from_secs(10),
        "a processor holds the lock",
        || holder_pid().is_some(),
    );
    let (holder, standby) = if holder_pid() == Some(first.pid()) {
        (first, second)
    } else {
        (second, first)
    };
    upload_file(dir.path(), standby.addr("movie"), "7", "one.txt", "one");
    eventually(
        Duration::from_secs(10),
        "the holder processes one.txt",
        || processed_by(standby.addr("movie"), "7", "one.txt") == Some(1),
    );

    // Paused past its lease: the standby takes over after the lock-delay, with token 2,
    // and goes on with the work.
    signal(holder.pid(), "STOP");
    let paused = Instant::now();
    upload_file(dir.path(), standby.addr("movie"), "7", "two.txt", "two");
    eventually(
        Duration::from_secs(15),
        "the standby processes two.txt",
        || processed_by(standby.addr("movie"), "7", "two.txt") == Some(2),
    );
    assert!(
        paused.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        paused.elapsed()
    );
    assert_eq!(holder_pid(), Some(standby.pid()));

    // Resumed, the old holder stops: its lease is known lost, or its next write is
    // refused by fencing. It writes nothing more.
    signal(holder.pid(), "CONT");
    eventually(
        Duration::from_secs(10),
        "the old holder stops processing",
        || {
            let logs = holder.logs();
            logs.contains("the lease is lost") || logs.contains("refused by fencing")
        },
    );
    upload_file(dir.path(), holder.addr("movie"), "7", "three.txt", "three");
    eventually(
        Duration::from_secs(10),
        "the new holder processes three.txt",
        || processed_by(holder.addr("movie"), "7", "three.txt") == Some(2),
    );
    // Every record after the takeover carries the new token.
    for f in files(holder.addr("movie"), "7").as_array().unwrap() {
        let expected = if f["filename"] == "one.txt" { 1 } else { 2 };
        assert_eq!(f["processedByToken"], expected, "{f}");
    }
    drop(holder);

    // And the lock of a killed holder comes free too.
    let killed = Instant::now();
    standby.kill();
    let mut waiter = Command::new(BIN)
        .args(["--data-dir", data_dir, "--config", config_arg])
        .args([
            "lock",
            "run",
            "locks/service/movie/processor",
            "--timeout",
            "10s",
            "--",
            "true",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(
        wait_with_timeout(&mut waiter, Duration::from_secs(15)),
        Some(0)
    );
    assert!(
        killed.elapsed() >= Duration::from_millis(1300),
        "{:?}",
        killed.elapsed()
    );
}

/// A raw HTTP/1.1 PUT that announces `length` bytes, sends `sent` of them and then stalls,
/// keeping the connection open.
fn stalled_put(
    addr: &str,
    movie: &str,
    name: &str,
    length: usize,
    sent: &[u8],
) -> std::net::TcpStream {
    let path = format!("/movie/upload?id={movie}&filename={name}");
    let mut stream = start_put(addr, &path, length);
    stream.write_all(sent).unwrap();
    stream
}

/// The status line's code of what `stream` answers.
fn status_of(stream: &mut std::net::TcpStream) -> u16 {
    use std::io::Read;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).unwrap_or(0);
    String::from_utf8_lossy(&head[..n])
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Uploads that stop sending are cancelled after `uploads.idleTimeout`, over gRPC and over
/// HTTP, and leave nothing behind; and uploads under way are capped
/// (`uploads.maxConcurrent`), so stalled ones cannot take what health checks and ordinary
/// calls need.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_uploads_are_cancelled_and_capped() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("uploads.yaml");
    std::fs::write(&config, "uploads:\n  idleTimeout: 1s\n  maxConcurrent: 2\n").unwrap();
    let data = dir.path().to_owned();
    let config_arg = config.to_str().unwrap().to_owned();
    let server = tokio::task::spawn_blocking(move || {
        Server::start_with(&data, &["--services", "movie", "--config", &config_arg])
    })
    .await
    .unwrap();
    let addr = server.addr("movie").to_owned();

    // gRPC: a first message, then nothing.
    let mut client = MovieServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel::<pb::UploadRequest>(4);
    tx.send(pb::UploadRequest {
        filename: "stalled.bin".into(),
        chunk: vec![1; 1024],
        movie_id: "1".into(),
    })
    .await
    .unwrap();
    let began = Instant::now();
    let stalled = client
        .upload_file(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap_err();
    assert_eq!(stalled.code(), Code::DeadlineExceeded, "{stalled:?}");
    assert!(stalled.message().contains("idleTimeout"), "{stalled:?}");
    assert!(began.elapsed() < Duration::from_secs(20));
    drop(tx);

    // A later message for another movie is refused, as one for another file is.
    let moved = [("1", "same.bin"), ("2", "")].map(|(movie, name)| pb::UploadRequest {
        filename: name.into(),
        chunk: vec![4; 10],
        movie_id: movie.into(),
    });
    let refused = client
        .upload_file(tokio_stream::iter(moved))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("movie_id"), "{refused:?}");

    // HTTP: a body that stops half-way.
    let (http_addr, watched) = (addr.clone(), dir.path().to_owned());
    tokio::task::spawn_blocking(move || {
        let mut half = stalled_put(&http_addr, "1", "half.bin", 1000, &[2; 500]);
        assert_eq!(status_of(&mut half), 504);
        assert_eq!(partial(&watched), 0, "nothing is kept");
        assert!(!watched.join("uploads/1/half.bin").exists());

        // Two stalled uploads take the two places; a third is refused at once, while
        // health checks still answer.
        let _first = stalled_put(&http_addr, "1", "a.bin", 1000, &[3; 10]);
        let _second = stalled_put(&http_addr, "1", "b.bin", 1000, &[3; 10]);
        eventually(Duration::from_secs(5), "both uploads under way", || {
            partial(&watched) == 2
        });
        let mut third = stalled_put(&http_addr, "1", "c.bin", 1000, &[3; 10]);
        assert_eq!(status_of(&mut third), 429);
        assert_eq!(crate::support::http_get(&http_addr, "/healthz").0, 200);
        // Once they are cancelled, the places are free again.
        eventually(
            Duration::from_secs(10),
            "the stalled uploads are gone",
            || partial(&watched) == 0,
        );
        let (code, body) = put(&http_addr, "/movie/upload?id=1&filename=d.bin", b"done");
        assert_eq!(code, 200, "{body}");
    })
    .await
    .unwrap();
}

/// `movie upload` from a pipe (`<(…)`, a FIFO), which has no size beforehand: what was
/// sent is what is checked.
#[test]
fn an_upload_from_a_pipe_is_checked_against_what_was_sent() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), &["--services", "movie"]);
    let fifo = dir.path().join("pipe");
    let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo(3) with a valid, NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, vec![7u8; 1234]).unwrap())
    };
    let run = movieapp(&[
        "movie",
        "upload",
        "1",
        fifo.to_str().unwrap(),
        "--addr",
        server.addr("movie"),
    ]);
    writer.join().unwrap();
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("1234 bytes"), "{}", run.stdout);
    assert!(
        run.stdout.contains(&sha256_hex(&[7u8; 1234])),
        "{}",
        run.stdout
    );
}
