//! The console examples of the README and of every page under docs/ (issue 32), run as a
//! reader would run them, so that they stay true.
//!
//! In a ```` ```console ```` block, a line starting with `$ ` is a command (continued on the
//! next line after a trailing `\`), and the lines up to the next command are what it prints
//! (stdout and stderr together, as a terminal shows them). In those lines, `…` alone stands
//! for any number of lines, and `…` within a line for any text. Blocks fenced as `sh` or
//! `text` are not run (they need what CI has not: a MySQL server, a Kubernetes cluster…).
//!
//! Each page starts from nothing: its own data directory (`MOVIEAPP_DATA_DIR`) and state
//! directory, the repository as working directory, `movieapp` on PATH. A `movieapp serve`
//! whose expected output says it is listening runs in the background until the page ends
//! (or the page starts another one, as its reader was told to stop the first), and so does a
//! command that ends with `&`; every other command must finish within a minute. Pages run
//! one after another, on the book's ports.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

use crate::support::{BIN, repo_root};

/// One command of a console block and what it prints.
struct Step {
    line: usize,
    command: String,
    expected: Vec<String>,
}

/// The commands of every console block of `markdown`, in order.
fn steps(markdown: &str) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    // The fence's indentation while in a console block (a block in a list is indented).
    let mut indent: Option<usize> = None;
    let mut continued = false;
    for (n, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        let Some(depth) = indent else {
            if trimmed == "```console" {
                indent = Some(line.len() - trimmed.len());
            }
            continue;
        };
        if trimmed.starts_with("```") {
            indent = None;
            continue;
        }
        // Lines of the block, without the block's own indentation.
        let line = line.get(depth..).unwrap_or(trimmed).trim_end();
        if continued && let Some(step) = steps.last_mut() {
            step.command.push('\n');
            step.command.push_str(line);
            continued = line.ends_with('\\');
        } else if let Some(command) = line.strip_prefix("$ ") {
            continued = command.ends_with('\\');
            steps.push(Step {
                line: n + 1,
                command: command.to_owned(),
                expected: Vec::new(),
            });
        } else if let Some(step) = steps.last_mut() {
            step.expected.push(line.to_owned());
        }
    }
    steps
}

/// Whether `actual` is what `expected` shows, `…` standing for what varies.
fn matches(expected: &[String], actual: &[String]) -> bool {
    match expected.split_first() {
        None => actual.is_empty(),
        Some((first, rest)) if first == "…" => {
            (0..=actual.len()).any(|skip| matches(rest, &actual[skip..]))
        }
        Some((first, rest)) => actual
            .split_first()
            .is_some_and(|(line, more)| line_matches(first, line) && matches(rest, more)),
    }
}

fn line_matches(expected: &str, actual: &str) -> bool {
    let mut parts = expected.split('…');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = actual.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// A page's surroundings: its own directories, and `movieapp` on PATH.
struct Page {
    dir: tempfile::TempDir,
    path: String,
    servers: Vec<Child>,
}

impl Page {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bin = Path::new(BIN).parent().unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Self {
            dir,
            path,
            servers: Vec::new(),
        }
    }

    fn shell(&self, command: &str) -> Command {
        let mut shell = Command::new("bash");
        shell
            .args(["-c", command])
            .current_dir(repo_root())
            .env("PATH", &self.path)
            .env("MOVIEAPP_DATA_DIR", self.dir.path().join("data"))
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .env("COLUMNS", "100")
            .env_remove("MOVIEAPP_CONFIG")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        shell
    }

    /// Runs `step`; the lines it printed, or why it could not run.
    fn run(&mut self, step: &Step) -> Result<Vec<String>, String> {
        // `cmd &`, as a reader starts a server and goes on in the same terminal.
        if let Some(command) = step.command.strip_suffix('&') {
            let started = self.background(command.trim_end(), 0)?;
            // What it says as it starts comes first, as a terminal shows it.
            std::thread::sleep(Duration::from_millis(500));
            return Ok(started);
        }
        let serve = step.command.split_whitespace().any(|w| w == "serve")
            && step.expected.iter().any(|l| l.contains("listening on"));
        if serve {
            self.stop();
            return self.background(&step.command, step.expected.len());
        }
        let mut child = self
            // On a line of its own, so that a comment after the command stays a comment.
            .shell(&format!("{{ {}\n}} 2>&1", step.command))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let lines: Vec<String> = BufReader::new(out).lines().map_while(Result::ok).collect();
            let _ = tx.send(lines);
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(lines) => {
                let _ = child.wait();
                Ok(lines.into_iter().map(|l| l.trim_end().to_owned()).collect())
            }
            Err(_) => {
                let _ = child.kill();
                Err("still running after 60 s".into())
            }
        }
    }

    /// Starts a server and reads the first `lines` lines it prints (as many as the page
    /// shows).
    fn background(&mut self, command: &str, lines: usize) -> Result<Vec<String>, String> {
        let mut child = self
            .shell(&format!("exec {command}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let out = child.stdout.take().unwrap();
        self.servers.push(child);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut read = Vec::new();
        while read.len() < lines {
            match rx.recv_timeout(Duration::from_secs(20)) {
                Ok(line) => read.push(line.trim_end().to_owned()),
                Err(_) => break,
            }
        }
        Ok(read)
    }

    fn stop(&mut self) {
        for mut server in self.servers.drain(..) {
            crate::support::signal(server.id(), "TERM");
            if crate::support::wait_with_timeout(&mut server, Duration::from_secs(10)).is_none() {
                let _ = server.kill();
                let _ = server.wait();
            }
        }
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The README and every page under docs/.
fn pages() -> Vec<PathBuf> {
    let root = repo_root();
    let mut pages = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

#[test]
fn console_examples_print_what_the_pages_show() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for path in pages() {
        let markdown = std::fs::read_to_string(&path).unwrap();
        let name = path
            .strip_prefix(repo_root())
            .unwrap()
            .display()
            .to_string();
        let mut page = Page::new();
        for step in steps(&markdown) {
            checked += 1;
            match page.run(&step) {
                Ok(actual) if matches(&step.expected, &actual) => {}
                Ok(actual) => failures.push(format!(
                    "{name}:{}: $ {}\n--- the page shows:\n{}\n--- it printed:\n{}",
                    step.line,
                    step.command,
                    step.expected.join("\n"),
                    actual.join("\n")
                )),
                Err(why) => {
                    failures.push(format!("{name}:{}: $ {}: {why}", step.line, step.command))
                }
            }
        }
    }
    assert!(checked > 0, "no console example found");
    assert!(
        failures.is_empty(),
        "{} of {checked} console examples differ:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_matcher_takes_ellipses_for_what_varies() {
    let lines = |s: &str| s.lines().map(str::to_owned).collect::<Vec<_>>();
    assert!(matches(&lines("a\n…\nd"), &lines("a\nb\nc\nd")));
    assert!(matches(&lines("a\n…"), &lines("a")));
    assert!(!matches(&lines("a\nd"), &lines("a\nb\nd")));
    assert!(line_matches(
        "error: … at …/registry.db; start",
        "error: x at /tmp/q/registry.db; start"
    ));
    assert!(!line_matches("error: … at x", "error: y at z"));
    assert!(line_matches("plain", "plain") && !line_matches("plain", "plain more"));
    let parsed = steps("text\n```console\n$ a \\\n  b\nout\n$ c\n```\n$ not run\n");
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed[0].command, "a \\\n  b");
    assert_eq!(parsed[0].expected, ["out"]);
    assert!(parsed[1].expected.is_empty());
}
