//! The container image and the deployments (Dockerfile, deploy/k8s, deploy/compose) are
//! checked by the real tools, and every movieapp configuration file in the repository by
//! movieapp itself, so that a renamed key breaks CI rather than a deploy.

use std::{path::PathBuf, process::Command};

use serde::Deserialize as _;
use serde_yaml_ng::Value;

use crate::support::{movieapp, repo_root, test_tool};

/// Runs a tool and returns its stdout, failing the test with its output when it fails.
fn run(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|e| panic!("run {tool}: {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every movieapp configuration file: configs/*.yaml and each deploy/**/movieapp.yaml.
fn config_files() -> Vec<PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.file_name().is_some_and(|n| n == "movieapp.yaml") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(repo_root().join("configs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            files.push(path);
        }
    }
    walk(&repo_root().join("deploy"), &mut files);
    files.sort();
    files
}

#[test]
fn every_configuration_file_passes_config_check() {
    let files = config_files();
    // configs/base.yaml, the compose file's, and the Kubernetes base's and overlays'.
    assert!(files.len() >= 5, "{files:?}");
    for file in &files {
        let out = movieapp(&["config", "check", file.to_str().unwrap()]).ok();
        assert!(out.contains("ok"), "{}: {out}", file.display());
    }
}

/// The resources an overlay renders to, as `kubectl kustomize` prints them.
fn render(kubectl: &str, overlay: &str) -> Vec<Value> {
    let text = run(
        kubectl,
        &["kustomize", &format!("deploy/k8s/overlays/{overlay}")],
    );
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap())
        .collect()
}

fn named<'a>(resources: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    resources
        .iter()
        .find(|r| r["kind"] == kind && r["metadata"]["name"].as_str() == Some(name))
}

#[test]
fn the_kubernetes_overlays_render_and_pass_the_kubernetes_schema() {
    let (Some(kubectl), Some(validate)) = (test_tool("KUBECTL"), test_tool("KUBERNETES_VALIDATE"))
    else {
        return;
    };
    for overlay in ["local", "production"] {
        let resources = render(&kubectl, overlay);
        // Against the schema of a current Kubernetes, rejecting unknown fields.
        let rendered = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            rendered.path(),
            resources
                .iter()
                .map(|r| serde_yaml_ng::to_string(r).unwrap())
                .collect::<Vec<_>>()
                .join("---\n"),
        )
        .unwrap();
        run(
            &validate,
            &["--strict", "--quiet", rendered.path().to_str().unwrap()],
        );

        for (service, port) in [
            ("metadata", 8081),
            ("rating", 8082),
            ("movie", 8083),
            ("auth", 8084),
        ] {
            let what = format!("{overlay}: {service}");
            let deployment = named(&resources, "Deployment", service)
                .unwrap_or_else(|| panic!("{what}: no Deployment"));
            let pod = &deployment["spec"]["template"]["spec"];
            let container = &pod["containers"][0];
            assert_eq!(container["args"][2], service, "{what}");
            // Native gRPC probes on the service's port; liveness does not follow readiness.
            assert_eq!(container["readinessProbe"]["grpc"]["port"], port, "{what}");
            assert_eq!(container["livenessProbe"]["grpc"]["port"], port, "{what}");
            assert_eq!(
                container["livenessProbe"]["grpc"]["service"], "liveness",
                "{what}"
            );
            for kind in ["requests", "limits"] {
                for resource in ["cpu", "memory"] {
                    assert!(
                        container["resources"][kind][resource].is_string(),
                        "{what}: resources.{kind}.{resource}"
                    );
                }
            }
            assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{what}");
            let security = &container["securityContext"];
            assert_eq!(security["readOnlyRootFilesystem"], true, "{what}");
            assert_eq!(security["allowPrivilegeEscalation"], false, "{what}");
            // The pod registers its own address in Consul.
            let env = container["env"].as_sequence().unwrap();
            assert!(
                env.iter().any(|e| e["name"] == "MOVIEAPP_ADVERTISE_HOST"
                    && e["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"),
                "{what}"
            );
            // Those with a database migrate it first.
            if matches!(service, "metadata" | "rating") {
                let init = &pod["initContainers"][0];
                assert_eq!(
                    init["args"],
                    serde_yaml_ng::to_value(["db", "migrate"]).unwrap(),
                    "{what}"
                );
            }
            assert!(
                named(&resources, "Service", service).is_some(),
                "{what}: no Service"
            );
            assert!(
                named(&resources, "PodDisruptionBudget", service).is_some(),
                "{what}: no PodDisruptionBudget"
            );
        }
        // The configuration is a ConfigMap, and the configuration in it passes config check.
        let config = resources
            .iter()
            .find(|r| r["kind"] == "ConfigMap")
            .unwrap_or_else(|| panic!("{overlay}: no ConfigMap"));
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            file.path(),
            config["data"]["movieapp.yaml"].as_str().unwrap(),
        )
        .unwrap();
        movieapp(&["config", "check", file.path().to_str().unwrap()]).ok();
    }
    // The local overlay brings its own database, discovery and broker, and the Secret.
    let local = render(&kubectl, "local");
    for dependency in ["mysql", "consul", "kafka"] {
        assert!(
            named(&local, "Service", dependency).is_some(),
            "{dependency}"
        );
    }
    assert!(local.iter().any(|r| r["kind"] == "Secret"));
}

#[test]
fn the_schema_check_rejects_a_broken_manifest() {
    // The validation above can fail: a Deployment with a misspelt field is refused.
    let Some(validate) = test_tool("KUBERNETES_VALIDATE") else {
        return;
    };
    let broken = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        broken.path(),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  replicas: 1\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers:\n        - name: x\n          image: x\n          readinesProbe: {grpc: {port: 1}}\n",
    )
    .unwrap();
    let out = Command::new(validate)
        .args(["--strict", "--quiet"])
        .arg(broken.path())
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn the_dockerfile_passes_hadolint() {
    let Some(hadolint) = test_tool("HADOLINT") else {
        return;
    };
    run(&hadolint, &["--config", ".hadolint.yaml", "Dockerfile"]);
    // The image checks its health with movieapp itself, and runs as a user.
    let dockerfile = std::fs::read_to_string(repo_root().join("Dockerfile")).unwrap();
    assert!(
        dockerfile.contains("movieapp health --addr"),
        "{dockerfile}"
    );
    assert!(
        dockerfile.contains("cargo auditable build --release --locked"),
        "{dockerfile}"
    );
    assert!(dockerfile.contains("USER 10001"), "{dockerfile}");
    assert!(
        dockerfile.contains("EXPOSE 8081 8082 8083 8084"),
        "{dockerfile}"
    );
}

#[test]
fn version_says_what_the_binary_was_built_from() {
    let json: serde_json::Value = serde_json::from_str(&movieapp(&["version", "-o", "json"]).ok())
        .expect("version -o json prints JSON");
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    // The commit this checkout is at (CI builds a clone, which has its .git).
    let head = run("git", &["rev-parse", "HEAD"]);
    assert_eq!(json["commit"], head.trim(), "{json}");
    assert!(
        json["rustc"].as_str().unwrap().starts_with("rustc 1."),
        "{json}"
    );
    assert!(json["features"].is_array(), "{json}");
    assert!(matches!(
        json["profile"].as_str(),
        Some("debug" | "release")
    ));
    let table = movieapp(&["version"]).ok();
    for row in [
        "version", "commit", "rustc", "features", "profile", "target",
    ] {
        assert!(table.contains(row), "{table}");
    }
    // --version, on the binary and on each command, is one line with the commit.
    for args in [&["--version"][..], &["movie", "--version"]] {
        let line = movieapp(args).ok();
        assert!(line.contains(head.trim()), "{args:?}: {line}");
        assert_eq!(line.trim().lines().count(), 1, "{line}");
    }
}

/// mimalloc commits memory as it is used (`.cargo/config.toml`), so a burst of calls does not
/// leave its pages resident. mimalloc says which options it runs with when asked.
#[test]
fn the_allocator_commits_memory_as_it_is_used() {
    let run = crate::support::movieapp_env(&["version"], &[("MIMALLOC_VERBOSE", "1")]);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(
        run.stderr.contains("option 'arena_eager_commit': 0"),
        "built without -DMI_DEFAULT_ARENA_EAGER_COMMIT=0:\n{}",
        run.stderr
    );
}
