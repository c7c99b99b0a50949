//! The committed completion scripts match the CLI. Regenerate with
//! `UPDATE_COMPLETIONS=1 cargo test --test cli completions`.

use clap_complete::Shell;
use movieapp::commands::completions::{committed_path, render};

use crate::support::{movieapp, repo_root};

#[test]
fn committed_completions_match_the_cli() {
    let update = std::env::var_os("UPDATE_COMPLETIONS").is_some();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let path = repo_root().join(committed_path(shell).unwrap());
        let fresh = render(shell);
        if update {
            std::fs::write(&path, &fresh).unwrap();
            continue;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == fresh,
            "{} is out of date with the CLI; run: UPDATE_COMPLETIONS=1 cargo test --test cli completions",
            path.display()
        );
        // And the command prints the same script.
        let printed = movieapp(&["completions", &shell.to_string()]).ok();
        assert_eq!(printed.trim_end(), fresh.trim_end());
    }
}
