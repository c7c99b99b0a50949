//! `movieapp bench-serialize` end to end: the book's sizes, every format, JSON output,
//! user-supplied values and bad input. Timings are not asserted (benchmarks measure; tests
//! check behaviour).

use crate::support::movieapp;

fn quick(extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = ["bench-serialize", "--duration", "0.2", "--batches", "3"]
        .map(String::from)
        .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn run(args: &[String]) -> crate::support::Run {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    movieapp(&args)
}

#[test]
fn json_report_has_the_books_sizes_and_every_format() {
    let report = run(&quick(&["-o", "json"])).json();
    let results = report["results"].as_array().unwrap();
    let size = |name: &str| {
        results
            .iter()
            .find(|r| r["format"] == name)
            .unwrap_or_else(|| panic!("{name} in {report}"))["bytes"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(size("json"), 106);
    assert_eq!(size("xml"), 148);
    assert_eq!(size("protobuf"), 63);
    assert_eq!(
        results.len(),
        7,
        "protobuf, json, xml, yaml, msgpack, cbor, postcard"
    );
    for r in results {
        for op in ["encode", "decode"] {
            let stats = &r[op];
            let (min, median, max) = (
                stats["minNs"].as_f64().unwrap(),
                stats["medianNs"].as_f64().unwrap(),
                stats["maxNs"].as_f64().unwrap(),
            );
            assert!(0.0 < min && min <= median && median <= max, "{r}");
            assert_eq!(stats["batches"], 3);
        }
        assert!(r["vsProtobuf"]["size"].as_f64().unwrap() > 0.0, "{r}");
    }
    let protobuf = results.iter().find(|r| r["format"] == "protobuf").unwrap();
    assert_eq!(protobuf["vsProtobuf"]["size"], 1.0);
    assert_eq!(protobuf["goReference"]["encodeNs"], 173.0);
    assert_eq!(report["value"]["title"], "The Movie 2");
    assert_eq!(report["mode"]["encode"], "into a reused buffer");
}

#[test]
fn table_names_the_mode_and_labels_the_go_reference() {
    let out = run(&quick(&["--formats", "protobuf,json"])).ok();
    assert!(out.contains("reused buffer"), "{out}");
    assert!(out.contains("Go reference"), "{out}");
    assert!(out.contains("Protobuf") && out.contains("JSON"), "{out}");
    assert!(!out.contains("YAML"), "only the chosen formats: {out}");
}

#[test]
fn a_value_file_is_validated_then_benchmarked() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("value.json");
    std::fs::write(
        &good,
        r#"{"id":"9","title":"Ünïcode ✓","description":"<&>\"'","director":"Q"}"#,
    )
    .unwrap();
    let report = run(&quick(&[
        "--value-file",
        good.to_str().unwrap(),
        "-o",
        "json",
    ]))
    .json();
    assert_eq!(report["value"]["title"], "Ünïcode ✓");

    let cases = [
        (
            "typo.json",
            r#"{"id":"9","titel":"x","description":"","director":""}"#,
            "titel",
        ),
        (
            "empty-id.json",
            r#"{"id":"","title":"x","description":"","director":""}"#,
            "invalid movie id",
        ),
        ("not-json.json", "id: 9", "expected a Metadata JSON object"),
    ];
    for (name, text, needle) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = run(&quick(&["--value-file", path.to_str().unwrap()]));
        assert_eq!(out.code, Some(1), "{name}: {out:?}");
        assert!(out.stderr.contains(name), "{name}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{name}: {}", out.stderr);
    }
    let missing = run(&quick(&["--value-file", "/nonexistent/value.json"]));
    assert_eq!(missing.code, Some(1));
    assert!(
        missing.stderr.contains("/nonexistent/value.json"),
        "{}",
        missing.stderr
    );
}

#[test]
fn bad_run_lengths_are_usage_errors() {
    for args in [
        vec!["bench-serialize", "--duration", "0"],
        vec!["bench-serialize", "--duration", "abc"],
        vec!["bench-serialize", "--iterations", "0"],
        vec!["bench-serialize", "--formats", "toml"],
        vec!["bench-serialize", "--duration", "1", "--iterations", "5"],
    ] {
        let out = movieapp(&args);
        assert_eq!(out.code, Some(2), "{args:?}: {out:?}");
        assert!(out.stderr.contains("error"), "{args:?}: {}", out.stderr);
    }
}
