//! Each port's OpenAPI document (issue 29): it documents exactly the routes the port serves
//! (the drift test), it is valid OpenAPI 3.1 (`openapi-spec-validator`), it marks what
//! needs a token under the auth mode, and schemathesis, run against a live `serve` with
//! the document, finds nothing.

use std::{
    collections::BTreeSet,
    path::Path,
    process::{Command, Stdio},
};

use movieapp::{server::serve::table, service::ServiceKind};

use crate::{
    access::{add_user, login},
    support::{Server, http_get, http_request, repo_root, test_tool},
};

/// The (METHOD, path) pairs a document lists.
fn documented(doc: &serde_json::Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            ops.insert((method.to_uppercase(), path.clone()));
        }
    }
    ops
}

fn document(addr: &str) -> serde_json::Value {
    let (status, body) = http_get(addr, "/openapi.json");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("the document is JSON")
}

/// A request with `method` to `path` and no parameters: the status, and whether the
/// port's fallback answered (the route is not served).
fn call(addr: &str, method: &str, path: &str) -> (u16, bool) {
    let (status, _, body) = http_request(addr, method, path, "");
    (status, body.contains("no such endpoint"))
}

#[test]
fn every_port_documents_exactly_the_routes_it_serves_and_the_documents_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let validator = test_tool("OPENAPI_SPEC_VALIDATOR");
    for service in ServiceKind::ALL {
        let addr = server.addr(service.name());
        let doc = document(addr);
        assert_eq!(doc["openapi"], "3.1.0");
        let listed = documented(&doc);
        // The endpoint table says what the port serves (profiles only with
        // debug.profiling, off here).
        let served: BTreeSet<(String, String)> = table(service)
            .https()
            .filter(|e| e.path != "/debug/pprof/profile")
            .map(|e| (e.method.to_owned(), e.path.to_owned()))
            .collect();
        assert_eq!(listed, served, "{service}: documented vs served");
        for (method, path) in &listed {
            let (status, fallback) = call(addr, method, path);
            assert!(
                !fallback && status != 405,
                "{service}: {method} {path} is documented but answers {status} (not served)"
            );
            let op = &doc["paths"][path][method.to_lowercase()];
            assert!(op["operationId"].is_string(), "{method} {path}: {op}");
            assert!(op["responses"]["200"].is_object(), "{method} {path}: {op}");
            // Under auth.mode: off nothing needs a token.
            assert!(op.get("security").is_none(), "{method} {path}: {op}");
        }
        // A route not in the document is not served.
        assert!(call(addr, "GET", "/not-a-route").1);
        if let Some(validator) = &validator {
            let file = dir.path().join(format!("{service}.json"));
            std::fs::write(&file, doc.to_string()).unwrap();
            let out = Command::new(validator).arg(&file).output().unwrap();
            assert!(
                out.status.success(),
                "{service}: openapi-spec-validator: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    // The error shape and a listing's page are described as they are answered.
    let rating = document(server.addr("rating"));
    assert_eq!(
        rating["components"]["schemas"]["ApiError"]["required"],
        serde_json::json!(["error"])
    );
    let list = &rating["paths"]["/rating/list"]["get"];
    let params: Vec<&str> = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["id", "type", "pageSize", "pageToken"]);
    assert!(list["responses"]["429"].is_object(), "{list}");
}

#[tokio::test(flavor = "multi_thread")]
async fn under_auth_the_documents_mark_what_needs_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(dir.path(), &[], &[("MOVIEAPP_AUTH_MODE", "writes")]);
    let rating = document(server.addr("rating"));
    let put = &rating["paths"]["/rating"]["put"];
    assert_eq!(
        put["security"],
        serde_json::json!([{"bearer": []}]),
        "{put}"
    );
    assert!(put["responses"]["401"].is_object() && put["responses"]["403"].is_object());
    assert!(
        put["description"].as_str().unwrap().contains("writer"),
        "{put}"
    );
    let get = &rating["paths"]["/rating"]["get"];
    assert!(
        get.get("security").is_none(),
        "reads are open under writes: {get}"
    );
    assert_eq!(
        rating["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let auth = document(server.addr("auth"));
    assert!(auth["paths"]["/token"]["post"].get("security").is_none());
}

/// Runs schemathesis against every port of `server`, with `extra` arguments; fails the
/// test with its report if it finds anything.
fn schemathesis(st: &str, server: &Server, dir: &Path, extra: &[&str]) {
    let config = repo_root().join("tests/openapi/schemathesis.toml");
    for service in ServiceKind::ALL {
        let url = format!("http://{}/openapi.json", server.addr(service.name()));
        let out = Command::new(st)
            .arg("--config-file")
            .arg(&config)
            .args(["run", &url, "--generation-codec", "ascii"])
            // New cases every run, as a fuzzer's should be; the report gives the seed
            // that reproduces a failure (`st run … --seed N`).
            .args(["--max-examples", "100", "--no-color"])
            .args(extra)
            .current_dir(dir)
            .env("SCHEMATHESIS_HOOKS", "")
            .stdin(Stdio::null())
            .output()
            .expect("run schemathesis");
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "schemathesis found problems on the {service} port:\n{report}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(report.contains("Tested: "), "{report}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_nothing_with_auth_off_or_on() {
    let Some(st) = test_tool("SCHEMATHESIS") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_async(dir.path()).await;
    let work = dir.path().to_owned();
    let st2 = st.clone();
    tokio::task::spawn_blocking(move || schemathesis(&st2, &server, &work, &[]))
        .await
        .unwrap();

    // Under auth.mode: all, with an admin's token: every call is let through and served.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    add_user(&data, "ada", "admin");
    let server = Server::start_with_env(dir.path(), &[], &[("MOVIEAPP_AUTH_MODE", "all")]);
    let token = login(server.addr("auth"), "ada").await;
    let work = dir.path().to_owned();
    tokio::task::spawn_blocking(move || {
        let header = format!("Authorization: Bearer {token}");
        schemathesis(&st, &server, &work, &["-H", &header]);
    })
    .await
    .unwrap();
}
