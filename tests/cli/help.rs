//! `--help` as a reader meets it: examples that can be copied from an 80-column terminal,
//! and the options every command shares kept apart from the command's own.

use clap::CommandFactory;
use movieapp::commands::Cli;

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
    walk("movieapp".into(), Cli::command(), &mut out);
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
