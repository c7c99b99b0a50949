//! Access control end to end (issue 11): `auth.mode` decides which calls need a token;
//! every bad token is refused with the same code over gRPC and HTTP; the movie service
//! forwards its caller's token; services in another process check tokens with the auth
//! service's published keys, and follow a key rotation.

use std::path::Path;

use movieapp::{
    auth::{Role, keys::SigningKey, token::Claims},
    pb::{
        self, metadata_service_client::MetadataServiceClient,
        movie_service_client::MovieServiceClient, rating_service_client::RatingServiceClient,
    },
};
use tonic::Code;

use crate::support::{Server, movieapp, movieapp_stdin};

const PASSWORD: &str = "correct horse battery";

/// Adds a user with `role` to the data directory `data`.
pub fn add_user(data: &str, name: &str, role: &str) {
    let added = movieapp_stdin(
        &[
            "--data-dir",
            data,
            "auth",
            "user",
            "add",
            name,
            "--role",
            role,
        ],
        &format!("{PASSWORD}\n"),
    );
    assert_eq!(added.code, Some(0), "{}", added.stderr);
}

/// A token from the auth service at `auth`, over HTTP.
pub async fn login(auth: &str, user: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("http://{auth}/token"))
        .json(&serde_json::json!({"username": user, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

pub fn claims(user: &str, roles: &[Role]) -> Claims {
    Claims {
        sub: user.into(),
        iat: now(),
        nbf: now(),
        exp: now() + 600,
        iss: "movieapp".into(),
        aud: "movieapp".into(),
        jti: "test".into(),
        roles: roles.to_vec(),
    }
}

/// A token signed by the key in the PEM file at `key` (the service's own, or another).
pub fn sign(key: &Path, claims: &Claims) -> String {
    let kid = SigningKey::read(key).unwrap().kid().to_owned();
    sign_with(key, &kid, claims)
}

/// A token with `kid` in its header, signed by the key in the PEM file at `key`. Made here
/// from RFC 7515's parts with ring, not by movieapp's JWT code.
fn sign_with(key: &Path, kid: &str, claims: &Claims) -> String {
    let pem = pem::parse(std::fs::read(key).unwrap()).unwrap();
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(pem.contents()).unwrap();
    let header = serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": kid});
    jwt(&header, claims, |input| pair.sign(input).as_ref().to_vec())
}

/// header.payload.signature, each base64url, the signature over the first two.
fn jwt(
    header: &serde_json::Value,
    claims: &impl serde::Serialize,
    sign: impl Fn(&[u8]) -> Vec<u8>,
) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(serde_json::to_string(claims).unwrap().as_bytes())
    );
    let signature = sign(input.as_bytes());
    format!("{input}.{}", b64(&signature))
}

fn b64(bytes: &[u8]) -> String {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Every kind of token that must be refused, by name, with the service's key at `key`.
async fn bad_tokens(key: &Path, jwks_x: &str, valid_reader: &str) -> Vec<(&'static str, String)> {
    let writer = claims("mallory", &[Role::Writer]);
    let other_key = key.with_file_name("other-key.pem");
    if !other_key.exists() {
        SigningKey::generate()
            .unwrap()
            .write_new(&other_key)
            .unwrap();
    }
    let kid = SigningKey::read(key).unwrap().kid().to_owned();
    let payload = b64(serde_json::to_string(&writer).unwrap().as_bytes());
    // alg none: no signature at all.
    let none = format!("{}.{payload}.", b64(br#"{"alg":"none","typ":"JWT"}"#));
    // HS256 with the public key as the shared secret (the classic confusion attack).
    let public = {
        use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
        URL_SAFE_NO_PAD.decode(jwks_x).unwrap()
    };
    let hs = serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": kid});
    let hs256 = jwt(&hs, &writer, |input| {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &public);
        ring::hmac::sign(&key, input).as_ref().to_vec()
    });
    // A reader's real token with its payload changed to say writer.
    let mut parts: Vec<String> = valid_reader.split('.').map(str::to_owned).collect();
    parts[1] = payload.clone();
    let tampered = parts.join(".");
    // Another key's signature under the service's kid.
    let forged = sign_with(&other_key, &kid, &writer);
    vec![
        ("garbage", "garbage".to_owned()),
        ("alg none", none),
        ("HS256 with the public key", hs256),
        (
            "expired",
            sign(
                key,
                &Claims {
                    nbf: now() - 7200,
                    exp: now() - 3600,
                    ..writer.clone()
                },
            ),
        ),
        (
            "not yet valid",
            sign(
                key,
                &Claims {
                    nbf: now() + 3600,
                    exp: now() + 7200,
                    ..writer.clone()
                },
            ),
        ),
        (
            "wrong iss",
            sign(
                key,
                &Claims {
                    iss: "someone-else".into(),
                    ..writer.clone()
                },
            ),
        ),
        (
            "wrong aud",
            sign(
                key,
                &Claims {
                    aud: "another-app".into(),
                    ..writer.clone()
                },
            ),
        ),
        ("tampered payload", tampered),
        ("unknown kid", sign(&other_key, &writer)),
        ("another key under our kid", forged),
    ]
}

fn with_token<T>(message: T, token: Option<&str>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    request
}

fn put_rating() -> pb::PutRatingRequest {
    pb::PutRatingRequest {
        user_id: "alex".into(),
        record_id: "1".into(),
        record_type: "movie".into(),
        rating_value: 5,
    }
}

/// Under `writes`: writes need a writer's token, reads and probes need none, and every bad
/// token gets UNAUTHENTICATED / 401 with `WWW-Authenticate: Bearer`, a reader's
/// PERMISSION_DENIED / 403, over gRPC and HTTP alike. No token reaches the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_need_a_writers_token_and_every_bad_token_is_refused_on_grpc_and_http() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let server = Server::start_with_env(
        dir.path(),
        &["--log-level", "debug"],
        &[("MOVIEAPP_AUTH_MODE", "writes")],
    );
    add_user(&data, "walt", "writer");
    add_user(&data, "rita", "reader");
    let auth = server.addr("auth").to_owned();
    let rating = server.addr("rating").to_owned();
    let writer = login(&auth, "walt").await;
    let reader = login(&auth, "rita").await;
    let jwks: serde_json::Value = reqwest::get(format!("http://{auth}/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let x = jwks["keys"][0]["x"].as_str().unwrap().to_owned();
    let key = dir.path().join("auth-signing-key.pem");

    let mut grpc = RatingServiceClient::new(server.channel("rating").await);
    let http = reqwest::Client::new();
    let put_http = |token: Option<&str>| {
        let mut request = http.put(format!(
            "http://{rating}/rating?id=1&type=movie&userId=alex&value=5"
        ));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };

    let mut cases: Vec<(&str, Option<String>, Code, u16)> = vec![
        ("no token", None, Code::Unauthenticated, 401),
        (
            "a reader's token",
            Some(reader.clone()),
            Code::PermissionDenied,
            403,
        ),
    ];
    for (name, token) in bad_tokens(&key, &x, &reader).await {
        cases.push((name, Some(token), Code::Unauthenticated, 401));
    }
    for (name, token, code, status) in &cases {
        let got = grpc
            .put_rating(with_token(put_rating(), token.as_deref()))
            .await
            .unwrap_err();
        assert_eq!(got.code(), *code, "gRPC, {name}: {got:?}");
        let response = put_http(token.as_deref()).await.unwrap();
        assert_eq!(response.status(), *status, "HTTP, {name}");
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Bearer"), "{name}: {challenge}");
        let body = response.text().await.unwrap();
        if let Some(token) = token {
            assert!(!body.contains(token.as_str()), "{name}: {body}");
        }
    }
    // The refusals say why, never quoting the token.
    let expired = &cases.iter().find(|c| c.0 == "expired").unwrap().1;
    let got = grpc
        .put_rating(with_token(put_rating(), expired.as_deref()))
        .await
        .unwrap_err();
    assert!(got.message().contains("token expired"), "{got:?}");
    let got = grpc
        .put_rating(with_token(put_rating(), Some(&reader)))
        .await
        .unwrap_err();
    assert!(got.message().contains("writer role"), "{got:?}");

    // A writer writes, both ways; reads need nothing under `writes`.
    grpc.put_rating(with_token(put_rating(), Some(&writer)))
        .await
        .unwrap();
    assert_eq!(put_http(Some(&writer)).await.unwrap().status(), 200);
    let read = grpc
        .get_aggregated_rating(pb::GetAggregatedRatingRequest {
            record_id: "1".into(),
            record_type: "movie".into(),
        })
        .await
        .unwrap();
    assert_eq!(read.into_inner().rating_value, 5.0);
    // Probes, metrics and health stay open.
    for path in ["/healthz", "/readyz", "/metrics", "/rating?id=1&type=movie"] {
        assert_eq!(crate::support::http_get(&rating, path).0, 200, "{path}");
    }
    let mut health =
        tonic_health::pb::health_client::HealthClient::new(server.channel("rating").await);
    health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap();
    // Refusals are counted by code.
    let metrics = crate::support::http_get(&rating, "/metrics").1;
    let refused = crate::support::sample(
        &metrics,
        r#"movieapp_errors_total{service="rating",endpoint="PutRating",error="unauthenticated"}"#,
    );
    assert!(refused >= 11.0, "{refused}");

    let logs = server.logs();
    for token in [&writer, &reader] {
        assert!(!logs.contains(token.as_str()), "a token was logged");
    }
}

/// Under `all`, in two processes: the auth service in one, the rest in another, which
/// checks tokens with the keys the auth service publishes. Reads need a token; the movie
/// service forwards its caller's to metadata and rating; after `auth key rotate`, new
/// tokens are accepted at once and old ones still are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_all_reads_need_a_token_the_movie_service_forwards_it_and_rotation_is_followed() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let auth_server = Server::start_with(dir.path(), &["--services", "auth"]);
    let services = Server::start_with_env(
        dir.path(),
        &["--services", "metadata,rating,movie"],
        &[("MOVIEAPP_AUTH_MODE", "all")],
    );
    add_user(&data, "walt", "writer");
    add_user(&data, "rita", "reader");
    let auth = auth_server.addr("auth").to_owned();
    let writer = login(&auth, "walt").await;
    let reader = login(&auth, "rita").await;

    let mut metadata = MetadataServiceClient::new(services.channel("metadata").await);
    let mut rating = RatingServiceClient::new(services.channel("rating").await);
    let mut movie = MovieServiceClient::new(services.channel("movie").await);
    let put = pb::PutMetadataRequest {
        metadata: Some(pb::Metadata {
            id: "1".into(),
            title: "The Movie".into(),
            description: "".into(),
            director: "Someone".into(),
        }),
    };
    let got = metadata
        .put_metadata(with_token(put.clone(), Some(&reader)))
        .await
        .unwrap_err();
    assert_eq!(got.code(), Code::PermissionDenied);
    metadata
        .put_metadata(with_token(put, Some(&writer)))
        .await
        .unwrap();
    rating
        .put_rating(with_token(put_rating(), Some(&writer)))
        .await
        .unwrap();

    let details = |token: Option<&str>| {
        with_token(
            pb::GetMovieDetailsRequest {
                movie_id: "1".into(),
            },
            token,
        )
    };
    let got = movie.get_movie_details(details(None)).await.unwrap_err();
    assert_eq!(got.code(), Code::Unauthenticated);
    let got = metadata
        .get_metadata(with_token(
            pb::GetMetadataRequest {
                movie_id: "1".into(),
            },
            None,
        ))
        .await
        .unwrap_err();
    assert_eq!(got.code(), Code::Unauthenticated);
    // The reader's token reaches metadata and rating through the movie service.
    let found = movie
        .get_movie_details(details(Some(&reader)))
        .await
        .unwrap()
        .into_inner()
        .movie_details
        .unwrap();
    assert_eq!(found.rating, 5.0);
    assert_eq!(found.metadata.unwrap().title, "The Movie");
    let movie_addr = services.addr("movie");
    let response = reqwest::Client::new()
        .get(format!("http://{movie_addr}/movie?id=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let response = reqwest::Client::new()
        .get(format!("http://{movie_addr}/movie?id=1"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // Rotation: the auth service picks the new key up and publishes both.
    let rotated = movieapp(&["--data-dir", &data, "auth", "key", "rotate"]);
    assert_eq!(rotated.code, Some(0), "{}", rotated.stderr);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let jwks: serde_json::Value = reqwest::get(format!("http://{auth}/.well-known/jwks.json"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if jwks["keys"].as_array().unwrap().len() == 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not rotated: {jwks}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let fresh = login(&auth, "rita").await;
    assert_ne!(
        jsonwebtoken::decode_header(&fresh).unwrap().kid,
        jsonwebtoken::decode_header(&reader).unwrap().kid
    );
    for token in [&fresh, &reader] {
        movie.get_movie_details(details(Some(token))).await.unwrap();
    }
    let listed = movieapp(&["--data-dir", &data, "auth", "key", "list"]).ok();
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(listed.starts_with("current "), "{listed}");
}

/// With auth off, `serve` listens beyond loopback only when told `--insecure`, and says
/// why in one line otherwise.
#[test]
fn auth_off_on_a_public_address_needs_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let refused = crate::support::serve_expecting_failure(data, &["--host", "0.0.0.0"]);
    assert_eq!(refused.code, Some(2), "{}", refused.stderr);
    assert_eq!(
        refused.stderr.trim().lines().count(),
        1,
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("auth.mode off") && refused.stderr.contains("--insecure"),
        "{}",
        refused.stderr
    );
    let server = Server::start_with(dir.path(), &["--host", "0.0.0.0", "--insecure"]);
    assert!(
        server.addr("movie").starts_with("0.0.0.0:"),
        "{:?}",
        server.addrs
    );
    // With auth on, no flag is needed.
    drop(server);
    let server = Server::start_with_env(
        dir.path(),
        &["--host", "0.0.0.0"],
        &[("MOVIEAPP_AUTH_MODE", "writes")],
    );
    assert!(
        server.addr("auth").starts_with("0.0.0.0:"),
        "{:?}",
        server.addrs
    );
}

/// The variables that hold secrets are read, never shown: not by `config show`, not in a
/// warning about unknown variables.
#[test]
fn config_show_never_shows_a_key_or_token() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let env = [
        (
            "MOVIEAPP_AUTH_SIGNING_KEY",
            "-----BEGIN PRIVATE KEY-----\nU0VDUkVUS0VZ\n-----END PRIVATE KEY-----\n",
        ),
        ("MOVIEAPP_TOKEN", "SECRET.TOKEN.VALUE"),
        ("MOVIEAPP_AUTH_MODE", "all"),
    ];
    for args in [
        &["--data-dir", data, "config", "show"][..],
        &[
            "--data-dir",
            data,
            "--log-level",
            "debug",
            "movie",
            "get",
            "1",
        ][..],
    ] {
        let run = crate::support::movieapp_env(args, &env);
        for secret in [
            "U0VDUkVUS0VZ",
            "SECRET.TOKEN",
            "MOVIEAPP_AUTH_SIGNING_KEY",
            "MOVIEAPP_TOKEN",
        ] {
            assert!(
                !run.stdout.contains(secret) && !run.stderr.contains(secret),
                "{args:?} shows {secret}:\n{}\n{}",
                run.stdout,
                run.stderr
            );
        }
    }
    let shown = crate::support::movieapp_env(&["--data-dir", data, "config", "show"], &env).ok();
    assert!(shown.contains("mode: all"), "{shown}");
}

/// Two `Authorization` headers make a call ambiguous, whichever comes first: refused with
/// HTTP 400 (`invalid_request`) and gRPC UNAUTHENTICATED, never decided by their order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tokens_in_one_call_are_refused_whatever_their_order() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let server = Server::start_with_env(
        dir.path(),
        &["--services", "rating,auth"],
        &[("MOVIEAPP_AUTH_MODE", "writes")],
    );
    add_user(&data, "walt", "writer");
    add_user(&data, "rita", "reader");
    let auth = server.addr("auth").to_owned();
    let rating = server.addr("rating").to_owned();
    let (writer, reader) = (login(&auth, "walt").await, login(&auth, "rita").await);
    let http = reqwest::Client::new();
    let mut grpc = RatingServiceClient::new(server.channel("rating").await);
    for (first, second) in [(&reader, &writer), (&writer, &reader)] {
        let response = http
            .put(format!(
                "http://{rating}/rating?id=1&type=movie&userId=alex&value=5"
            ))
            .header("authorization", format!("Bearer {first}"))
            .header("authorization", format!("Bearer {second}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        let challenge = response.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.contains("invalid_request"), "{challenge}");
        let mut request = with_token(put_rating(), Some(first));
        request
            .metadata_mut()
            .append("authorization", format!("Bearer {second}").parse().unwrap());
        let refused = grpc.put_rating(request).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
        assert!(refused.message().contains("more than one"), "{refused:?}");
    }
    // One token is fine.
    let one = grpc
        .put_rating(with_token(put_rating(), Some(&writer)))
        .await;
    assert!(one.is_ok(), "{one:?}");
}
