//! `--help` as a reader meets it: examples that can be copied from an 80-column terminal,
//! and the options every command shares kept apart from the command's own.

/// Every command and subcommand, with its path (`movieapp rate put`).
fn commands() -> Vec<(String, clap::Command)> {
    fn walk(path: String, cmd: clap::Command, out: &mut Vec<(String, clap::Command)>) {
        for sub in cmd.get_subcommands() {
            if sub.get_name() != "help" {
                walk(format!("{path} {}", sub.get_name()), sub.clone(), out);
            }
        }
        out.push((path, cmd));
    }
    let mut out = Vec::new();
    walk("movieapp".into(), movieapp::commands::command(), &mut out);
    out
}

/// Examples and other text after the options fit 80 columns, so a command is never
/// wrapped mid-way where someone copies it.
#[test]
fn help_examples_fit_80_columns() {
    let mut long = Vec::new();
    for (path, cmd) in commands() {
        for text in [cmd.get_after_help(), cmd.get_after_long_help()]
            .into_iter()
            .flatten()
        {
            for line in text.to_string().lines() {
                if line.chars().count() > 80 {
                    long.push(format!("{path}: {line}"));
                }
            }
        }
    }
    assert!(long.is_empty(), "over 80 columns:\n{}", long.join("\n"));
}

/// The options every command takes are listed under a heading of their own, after the
/// command's own options.
#[test]
fn shared_options_have_their_own_heading() {
    let run = crate::support::movieapp(&["rate", "put", "--help"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let own = run.stdout.find("--user").expect("rate put's own option");
    let heading = run.stdout.find("Global options:").expect("the heading");
    let data_dir = run.stdout.find("--data-dir").expect("a global option");
    assert!(own < heading && heading < data_dir, "{}", run.stdout);
}

/// A command's help lists only the shared options it uses: `rate put` no broker, `serve`
/// none of the clients' TLS options; they are still accepted, as scripts pass them.
#[test]
fn each_command_shows_the_shared_options_it_uses() {
    let help = |args: &[&str]| {
        let run = crate::support::movieapp(&[args, &["--help"]].concat());
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        run.stdout
    };
    let rate_put = help(&["rate", "put"]);
    assert!(!rate_put.contains("--broker"), "{rate_put}");
    assert!(rate_put.contains("--registry") && rate_put.contains("--cacert"));
    let serve = help(&["serve"]);
    for client_only in ["--cacert", "--cert ", "--key "] {
        assert!(!serve.contains(client_only), "{client_only}: {serve}");
    }
    assert!(serve.contains("--broker") && serve.contains("--registry"));
    let produce = help(&["produce"]);
    assert!(produce.contains("--broker") && !produce.contains("--cacert"));
    for global in ["--config", "--data-dir", "--log-level", "--log-format"] {
        assert!(
            produce.contains(global) && serve.contains(global),
            "{global}"
        );
    }
    // Still accepted where a script passes it.
    let run = crate::support::movieapp(&["--broker", "sqlite", "version", "--cacert", "ca.crt"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}

/// Completions offer each command the shared options it uses, and no others.
#[test]
fn completions_offer_only_the_options_a_command_uses() {
    let run = crate::support::movieapp(&["completions", "bash"]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let options = |case: &str| {
        let at = run.stdout.find(&format!("{case})")).expect(case);
        let opts = &run.stdout[at..];
        let line = opts
            .lines()
            .find(|l| l.trim_start().starts_with("opts="))
            .unwrap();
        line.to_owned()
    };
    let rate_put = options("movieapp__subcmd__rate__subcmd__put");
    assert!(
        rate_put.contains("--registry") && !rate_put.contains("--broker"),
        "{rate_put}"
    );
    let serve = options("movieapp__subcmd__serve");
    assert!(
        serve.contains("--broker") && !serve.contains("--cacert"),
        "{serve}"
    );
    assert!(serve.contains("--data-dir"), "{serve}");
}
