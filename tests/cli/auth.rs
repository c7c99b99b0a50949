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
    // Times as RFC 3339 in UTC, under the names the table gives them.
    for key in ["created", "passwordChanged"] {
        let when = listed[0][key].as_str().unwrap_or_default();
        assert!(
            when.len() >= 20 && when.as_bytes()[10] == b'T' && when.ends_with('Z'),
            "{key}: {listed}"
        );
    }
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

/// The auth service on the wire: the real grpcurl and plain HTTP get tokens that verify
/// against the published keys; failures say nothing more than "invalid credentials"; and
/// neither the password nor a token reaches the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auth_service_issues_tokens_that_verify_against_its_published_keys() {
    use movieapp::auth::{Role, keys::JwkSet, token::TokenVerifier};
    use movieapp::server::auth::controller::FAILED_LOGINS;

    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let server = crate::support::Server::start_with(
        dir.path(),
        &["--services", "auth", "--log-level", "debug"],
    );
    let auth = server.addr("auth").to_owned();
    let password = "correct horse battery";
    let added = movieapp_stdin(
        &["--data-dir", &data, "auth", "user", "add", "alex"],
        &format!("{password}\n"),
    );
    assert_eq!(added.code, Some(0), "{}", added.stderr);

    // HTTP: POST /token with JSON.
    let http = reqwest::Client::new();
    let post = |body: String, content_type: &'static str| {
        http.post(format!("http://{auth}/token"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let credentials = |user: &str, password: &str| {
        serde_json::json!({"username": user, "password": password}).to_string()
    };
    let response = post(credentials("alex", password), "application/json")
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let token = response.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();

    // The published keys verify it, with the user's role.
    let jwks: JwkSet = http
        .get(format!("http://{auth}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let claims = TokenVerifier::new(
        &jwks,
        &movieapp::auth::settings::Settings::default().tokens(),
    )
    .verify(&token)
    .unwrap();
    assert_eq!(claims.sub, "alex");
    assert_eq!(claims.roles, [Role::Writer]);
    assert_eq!(claims.exp - claims.iat, 3600);

    // The real grpcurl: GetToken, then ValidateToken names the user.
    if let Some(grpcurl) = crate::support::test_tool("GRPCURL") {
        let call = |method: &str, body: String| {
            std::process::Command::new(&grpcurl)
                .args(["-plaintext", "-d", &body, &auth, method])
                .output()
                .unwrap()
        };
        let got = call("AuthService/GetToken", credentials("alex", password));
        assert!(got.status.success(), "{got:?}");
        let got: serde_json::Value = serde_json::from_slice(&got.stdout).unwrap();
        let grpc_token = got["token"].as_str().unwrap().to_owned();
        let valid = call(
            "AuthService/ValidateToken",
            serde_json::json!({ "token": grpc_token }).to_string(),
        );
        let valid: serde_json::Value = serde_json::from_slice(&valid.stdout).unwrap();
        assert_eq!(valid["username"], "alex");
        let refused = call("AuthService/GetToken", credentials("nobody", password));
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(
            said.contains("Unauthenticated") && said.contains("invalid credentials"),
            "{said}"
        );
        let garbage = call(
            "AuthService/ValidateToken",
            serde_json::json!({ "token": "garbage" }).to_string(),
        );
        let said = String::from_utf8_lossy(&garbage.stderr);
        assert!(
            said.contains("Unauthenticated") && said.contains("not a JWT"),
            "{said}"
        );
    }

    // Wrong password and unknown user: the same 401, the same words.
    for (user, pass) in [("alex", "wrong password"), ("nobody", password)] {
        let response = post(credentials(user, pass), "application/json")
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.text().await.unwrap(),
            r#"{"error":"invalid credentials"}"#
        );
    }
    // Not JSON: 415, and a bad body never quoted back.
    let response = post(format!("username=alex&password={password}"), "text/plain")
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let response = post(
        format!("{{\"username\": \"alex\", \"pw\": \"{password}\""),
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 400);
    assert!(!response.text().await.unwrap().contains(password));

    // Failed logins are limited per user: alex has 1 failure; four more, then refused,
    // even with the right password, with Retry-After. Another user is not affected.
    for _ in 1..FAILED_LOGINS {
        let response = post(credentials("alex", "wrong again"), "application/json")
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    let response = post(credentials("alex", password), "application/json")
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let wait: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");

    // The signing key is the owner's only; neither the password nor a token is logged.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = dir.path().join("auth-signing-key.pem");
        let mode = std::fs::metadata(key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let logs = server.logs();
    // GetToken is called over gRPC only by grpcurl above; HTTP logins show as POST /token.
    let called = if crate::support::test_tool("GRPCURL").is_some() {
        "GetToken"
    } else {
        "POST /token"
    };
    assert!(logs.contains(called), "logged at debug: {logs}");
    assert!(!logs.contains(password), "the password is in the log");
    assert!(!logs.contains(&token), "a token is in the log");
    assert!(!logs.contains("eyJ"), "a JWT is in the log");
}

/// A flood of logins does not take the host's memory: password checks (19 MiB each) take
/// turns, and those that wait too long are refused with 429 and Retry-After rather than
/// queued without bound. Unknown users, so the per-user lockout plays no part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_is_bounded_in_memory_and_refused_with_retry_after() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let server = crate::support::Server::start_with(dir.path(), &["--services", "auth"]);
    let auth = server.addr("auth").to_owned();
    let added = movieapp_stdin(
        &["--data-dir", &data, "auth", "user", "add", "alex"],
        "correct horse battery\n",
    );
    assert_eq!(added.code, Some(0), "{}", added.stderr);
    let http = reqwest::Client::new();
    let mut logins = tokio::task::JoinSet::new();
    for n in 0..200 {
        let (http, url) = (http.clone(), format!("http://{auth}/token"));
        logins.spawn(async move {
            let body = serde_json::json!({"username": format!("nobody{n}"), "password": "x"});
            let response = http.post(url).json(&body).send().await.unwrap();
            let retry_after = response.headers().get("retry-after").cloned();
            (response.status().as_u16(), retry_after)
        });
    }
    let answers = logins.join_all().await;
    for (status, retry_after) in &answers {
        match status {
            401 => {}
            429 => assert!(retry_after.is_some(), "429 without Retry-After"),
            other => panic!("a login answered {other}"),
        }
    }
    // At most a few hashes ran at once: far below 200 × 19 MiB.
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let peak_kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    assert!(peak_kb < 200 * 1024, "peak RSS {peak_kb} kB");
    // And the service still serves its users.
    let body = serde_json::json!({"username": "alex", "password": "correct horse battery"});
    let ok = http
        .post(format!("http://{auth}/token"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

/// The password hashes are the owner's only: a new data directory is 0700 and `auth.db`
/// 0600, and an existing data directory that others can read is warned about.
#[test]
fn the_data_directory_and_the_user_database_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("new").join("data");
    let data_arg = data.to_str().unwrap().to_owned();
    let added = movieapp_stdin(
        &["--data-dir", &data_arg, "auth", "user", "add", "alex"],
        "correct horse battery\n",
    );
    assert_eq!(added.code, Some(0), "{}", added.stderr);
    assert_eq!(mode(&data), 0o700, "data directory");
    assert_eq!(mode(&data.join("auth.db")), 0o600, "auth.db");
    let server = crate::support::Server::start_with(&data, &["--services", "auth"]);
    assert!(!server.logs().contains("can be read by other users"));
    assert_eq!(mode(&data.join("auth.db")), 0o600, "auth.db once served");
    drop(server);

    // An existing directory keeps its mode, with a warning.
    let shared = tempfile::tempdir().unwrap();
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let server = crate::support::Server::start_with(shared.path(), &["--services", "auth"]);
    let logs = server.logs();
    assert!(
        logs.contains("can be read by other users") && logs.contains("chmod 700"),
        "{logs}"
    );
    assert_eq!(mode(&shared.path().join("auth.db")), 0o600);
}

/// A `/token` body over the port's body limit gets the documented JSON error, not the HTTP
/// library's plain text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_login_body_gets_a_json_error() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let server = crate::support::Server::start_with(dir.path(), &["--services", "auth"]);
    let auth = server.addr("auth").to_owned();
    let response = reqwest::Client::new()
        .post(format!("http://{auth}/token"))
        .header("content-type", "application/json")
        .body(vec![b' '; 200 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: serde_json::Value = response.json().await.unwrap();
    let message = body["error"].as_str().unwrap();
    assert!(message.contains("larger than"), "{message}");
}

/// `logout` forgets the kept token, and says when there was none.
#[test]
fn logout_forgets_the_kept_token() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().display().to_string();
    let env = [("XDG_STATE_HOME", state.as_str()), ("MOVIEAPP_TOKEN", "")];
    let none = crate::support::movieapp_env(&["logout"], &env);
    assert_eq!(none.code, Some(0), "{}", none.stderr);
    assert!(none.stdout.contains("no token kept"), "{}", none.stdout);
    let token = dir.path().join("movieapp").join("token");
    std::fs::create_dir_all(token.parent().unwrap()).unwrap();
    std::fs::write(&token, "kept.token.value\n").unwrap();
    let removed = crate::support::movieapp_env(&["logout"], &env);
    assert_eq!(removed.code, Some(0), "{}", removed.stderr);
    assert!(
        removed.stdout.contains("removed the token"),
        "{}",
        removed.stdout
    );
    assert!(!token.exists());
    assert!(!removed.stdout.contains("kept.token.value"));
}
