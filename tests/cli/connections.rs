//! What a port accepts (issue: hardening 1–2), on real sockets: a client that sends nothing,
//! or only the HTTP/2 preface, is closed within the configured time; the number of open
//! connections is capped; running out of file descriptors pauses accepting with one
//! warning instead of a busy loop; one connection cannot open streams past the limit.

use std::{
    io::{Read, Write},
    net::TcpStream,
    os::unix::process::CommandExt,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::support::{BIN, Server, http_get, wait_with_timeout};

/// A config file with tight connection limits, in `dir`.
fn limits(dir: &std::path::Path, extra: &str) -> String {
    let path = dir.join("limits.yaml");
    std::fs::write(
        &path,
        format!(
            "connections:\n  headerReadTimeout: 500ms\n  idleTimeout: 1s\n  keepaliveInterval: 300ms\n  keepaliveTimeout: 300ms\n{extra}"
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

/// Reads until the server closes the connection; how long that took.
fn closed_after(mut stream: TcpStream, limit: Duration) -> Duration {
    let started = Instant::now();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return started.elapsed(),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                panic!("still open after {limit:?}")
            }
            Err(_) => return started.elapsed(),
        }
    }
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// An HTTP/2 frame.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[test]
fn silent_and_preface_only_connections_are_closed_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let config = limits(dir.path(), "");
    let server = Server::start_with(dir.path(), &["--services", "rating", "--config", &config]);
    let addr = server.addr("rating");

    // Sends nothing at all: closed by the header-read timeout (500 ms).
    let silent = TcpStream::connect(addr).unwrap();
    let took = closed_after(silent, Duration::from_secs(10));
    assert!(
        took >= Duration::from_millis(300),
        "closed too early: {took:?}"
    );

    // Sends the HTTP/2 preface and SETTINGS, then nothing, and never answers pings: closed
    // by the keepalive or idle timeout.
    let mut preface_only = TcpStream::connect(addr).unwrap();
    preface_only.write_all(PREFACE).unwrap();
    preface_only.write_all(&frame(0x4, 0, 0, &[])).unwrap();
    closed_after(preface_only, Duration::from_secs(10));

    // A client that talks is served as usual.
    assert_eq!(http_get(addr, "/healthz").0, 200);
}

#[test]
fn open_connections_are_capped_per_port() {
    let dir = tempfile::tempdir().unwrap();
    let config = limits(dir.path(), "  maxPerPort: 2\n");
    let server = Server::start_with(dir.path(), &["--services", "rating", "--config", &config]);
    let addr = server.addr("rating");
    let first = TcpStream::connect(addr).unwrap();
    let second = TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // The third waits in the backlog until a silent one is closed (header timeout 500 ms).
    let started = Instant::now();
    assert_eq!(http_get(addr, "/healthz").0, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "served while two connections were open: {:?}",
        started.elapsed()
    );
    drop((first, second));
}

/// The process' user and system CPU time, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = stat.rsplit_once(')').unwrap().1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn running_out_of_descriptors_pauses_accepting_with_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let config = limits(dir.path(), "");
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--services", "rating", "--rating-port", "0"])
        .args(["--config", &config])
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--log-level", "warn"])
        .env_remove("RUST_LOG")
        .env_remove("MOVIEAPP_REGISTRY")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap());
    // SAFETY: setrlimit is async-signal-safe; it only lowers this child's limit.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 96,
                rlim_max: 96,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().unwrap();
    let mut line = String::new();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    let addr = line
        .trim()
        .rsplit_once(" listening on ")
        .unwrap()
        .1
        .to_owned();

    // Far more connections than descriptors.
    let held: Vec<TcpStream> = (0..200)
        .filter_map(|_| TcpStream::connect(&addr).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu_ticks(child.id());
    std::thread::sleep(Duration::from_secs(2));
    let spent = cpu_ticks(child.id()) - before;
    // A busy accept loop burns a whole core: about 200 ticks in 2 s.
    assert!(
        spent < 60,
        "{spent} ticks of CPU in 2 s while out of descriptors"
    );
    drop(held);
    // Accepting again once connections closed.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(http_get(&addr, "/healthz").0, 200);
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    wait_with_timeout(&mut child, Duration::from_secs(20));
    let logs = std::fs::read_to_string(&log).unwrap();
    let warnings = logs.matches("out of file descriptors").count();
    assert_eq!(warnings, 1, "{logs}");
}

/// A header block in HPACK's "literal, not indexed, new name" form.
fn headers_block(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.push(0x00);
        out.push(name.len() as u8);
        out.extend_from_slice(name.as_bytes());
        out.push(value.len() as u8);
        out.extend_from_slice(value.as_bytes());
    }
    out
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn one_connection_cannot_open_streams_past_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let config = limits(dir.path(), "  maxConcurrentStreams: 10\n");
    let server = Server::start_with(dir.path(), &["--services", "rating", "--config", &config]);
    let addr = server.addr("rating").to_owned();
    let rss_before = rss_kib(server.pid());

    let mut stream = TcpStream::connect(&addr).unwrap();
    stream.write_all(PREFACE).unwrap();
    stream.write_all(&frame(0x4, 0, 0, &[])).unwrap();
    // Headers only, never a body: each stream stays open on the server.
    let block = headers_block(&[
        (":method", "POST"),
        (":scheme", "http"),
        (":path", "/RatingService/PutRating"),
        (":authority", "movieapp"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ]);
    let mut burst = Vec::new();
    for i in 0..5_000u32 {
        burst.extend(frame(0x1, 0x4, 2 * i + 1, &block));
    }
    // The server may close the connection part-way: that is a refusal too.
    let _ = stream.write_all(&burst);

    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut bytes = Vec::new();
    let mut buf = [0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => bytes.extend_from_slice(&buf[..n]),
        }
    }
    // Walk the server's frames.
    let (mut max_streams, mut refused, mut goaway) = (None, 0, false);
    let mut rest = bytes.as_slice();
    while rest.len() >= 9 {
        let len = (usize::from(rest[0]) << 16) | (usize::from(rest[1]) << 8) | usize::from(rest[2]);
        let (kind, flags) = (rest[3], rest[4]);
        if rest.len() < 9 + len {
            break;
        }
        let payload = &rest[9..9 + len];
        match kind {
            0x4 if flags & 0x1 == 0 => {
                for setting in payload.chunks(6) {
                    if setting.len() == 6 && setting[..2] == [0, 3] {
                        max_streams = Some(u32::from_be_bytes(setting[2..6].try_into().unwrap()));
                    }
                }
            }
            0x3 if payload == [0, 0, 0, 7] => refused += 1,
            0x7 => goaway = true,
            _ => {}
        }
        rest = &rest[9 + len..];
    }
    assert_eq!(max_streams, Some(10), "SETTINGS_MAX_CONCURRENT_STREAMS");
    assert!(
        refused >= 100 || goaway,
        "streams past the limit were not refused ({refused} REFUSED_STREAM, no GOAWAY)"
    );
    let grown = rss_kib(server.pid()).saturating_sub(rss_before);
    assert!(grown < 64 * 1024, "RSS grew by {grown} KiB");
    // Other clients are still served.
    assert_eq!(http_get(&addr, "/healthz").0, 200);
}

/// CPU ticks of each of a process' threads, by thread name.
fn thread_ticks(pid: u32) -> Vec<(String, u64)> {
    let mut threads = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap().path();
        let (Ok(name), Ok(stat)) = (
            std::fs::read_to_string(task.join("comm")),
            std::fs::read_to_string(task.join("stat")),
        ) else {
            continue;
        };
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        let ticks = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        threads.push((name.trim().to_owned(), ticks));
    }
    threads
}

#[test]
fn connections_are_spread_over_the_workers() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("workers.yaml");
    std::fs::write(&config, "connections:\n  workers: 3\n").unwrap();
    let data = dir.path().to_str().unwrap();
    let server = Server::start_with(
        dir.path(),
        &[
            "--services",
            "metadata",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    let addr = server.addr("metadata");
    crate::support::movieapp(&["--data-dir", data, "movie", "put", "1", "--title", "T"]).ok();
    let workers = |threads: &[(String, u64)]| -> Vec<(String, u64)> {
        let mut named: Vec<_> = threads
            .iter()
            .filter(|(name, _)| name.starts_with("serve-worker-"))
            .cloned()
            .collect();
        named.sort();
        named
    };
    let before = workers(&thread_ticks(server.pid()));
    // The thread that runs `serve` is the first worker; the other two have names.
    assert_eq!(
        before.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["serve-worker-1", "serve-worker-2"],
        "{before:?}"
    );

    // Six connections, two per worker: every call answered, and both named workers serve.
    let got = crate::support::movieapp(&[
        "--data-dir",
        data,
        "bench-load",
        "--addr",
        addr,
        "--call",
        "MetadataService/GetMetadata",
        "-d",
        r#"{"movie_id":"1"}"#,
        "-c",
        "6",
        "--duration",
        "2s",
        "-o",
        "json",
    ])
    .json();
    assert_eq!(got["errors"], serde_json::json!({}), "{got}");
    assert!(got["ok"].as_u64().unwrap() > 0, "{got}");
    let after = workers(&thread_ticks(server.pid()));
    for ((name, was), (_, is)) in before.iter().zip(&after) {
        assert!(is > was, "{name} served nothing: {was} → {is} ticks");
    }
    assert_eq!(server.stop(), Some(0));
}

/// A client that sends its request head a byte at a time (slowloris) is closed
/// `headerReadTimeout` after connecting, however steadily it sends; and clients still in
/// their head have a cap of their own (`maxHandshaking`), so they cannot take every place
/// on the port: a health check gets through while they trickle.
#[test]
fn slow_request_heads_are_closed_on_time_and_capped() {
    let dir = tempfile::tempdir().unwrap();
    let config = limits(dir.path(), "  maxPerPort: 8\n  maxHandshaking: 4\n");
    let server = Server::start_with(dir.path(), &["--services", "metadata", "--config", &config]);
    let addr = server.addr("metadata").to_owned();
    // Never the blank line that ends the head: closed by the server.
    let trickle = |addr: String| {
        let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaa";
        std::thread::spawn(move || crate::support::trickle(&addr, head))
    };
    let slow: Vec<_> = (0..6).map(|_| trickle(addr.clone())).collect();
    std::thread::sleep(Duration::from_millis(200));
    // Established clients and new ones still get answers.
    crate::support::eventually(Duration::from_secs(10), "a health check answers", || {
        http_get(&addr, "/healthz").0 == 200
    });
    for client in slow {
        let lasted = client.join().unwrap();
        assert!(
            lasted < Duration::from_secs(10),
            "a trickling client lasted {lasted:?}"
        );
    }
}

/// Headers over `maxHeaderListBytes` are refused per call on HTTP/1.1 too (431), and on
/// HTTP/2 with a status a gRPC caller reads (RESOURCE_EXHAUSTED), the connection's other
/// calls going on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_are_refused_per_call_with_a_status_the_caller_reads() {
    use movieapp::pb::{GetMetadataRequest, metadata_service_client::MetadataServiceClient};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("headers.yaml");
    std::fs::write(&config, "connections:\n  maxHeaderListBytes: 4096\n").unwrap();
    let data = dir.path().to_owned();
    let config_arg = config.to_str().unwrap().to_owned();
    let server = tokio::task::spawn_blocking(move || {
        Server::start_with(&data, &["--services", "metadata", "--config", &config_arg])
    })
    .await
    .unwrap();
    let addr = server.addr("metadata").to_owned();
    let big = "a".repeat(6 * 1024);

    let http = reqwest::Client::new();
    let refused = http
        .get(format!("http://{addr}/healthz"))
        .header("x-big", &big)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 431);
    let body = refused.text().await.unwrap();
    assert!(body.contains("maxHeaderListBytes"), "{body}");
    let fine = http
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(fine.status(), 200);

    let mut client = MetadataServiceClient::new(server.channel("metadata").await);
    let mut request = tonic::Request::new(GetMetadataRequest {
        movie_id: "1".into(),
    });
    request.metadata_mut().insert("x-big", big.parse().unwrap());
    let status = client.get_metadata(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    // The connection serves on.
    let after = client
        .get_metadata(GetMetadataRequest {
            movie_id: "1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(after.code(), tonic::Code::NotFound, "{after:?}");

    // Far over the limit (25 KiB against 4 KiB: past where h2 alone would answer a bare
    // 431 or end the connection) is still one refused call, while another call is under
    // way on the same connection.
    let huge = "b".repeat(25 * 1024);
    let mut slow = client.clone();
    let under_way = tokio::spawn(async move {
        slow.get_metadata(GetMetadataRequest {
            movie_id: "2".into(),
        })
        .await
    });
    let mut request = tonic::Request::new(GetMetadataRequest {
        movie_id: "1".into(),
    });
    request
        .metadata_mut()
        .insert("x-huge", huge.parse().unwrap());
    let status = client.get_metadata(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
    let other = under_way.await.unwrap().unwrap_err();
    assert_eq!(other.code(), tonic::Code::NotFound, "{other:?}");
    let after = client
        .get_metadata(GetMetadataRequest {
            movie_id: "1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(after.code(), tonic::Code::NotFound, "{after:?}");
}
