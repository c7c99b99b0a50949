//! `movieapp completions`: shell completion scripts, generated from the CLI definition.
//! The committed copies under `completions/` are kept in sync by a test.

use clap::CommandFactory;
use clap_complete::Shell;

use super::{Cli, output};

/// Print a shell completion script
///
/// Prints the script on stdout; save it where your shell looks for completions, then
/// start a new shell.
#[derive(Debug, clap::Args)]
#[command(after_help = "Where each shell looks:

bash:
  movieapp completions bash \\
    > ~/.local/share/bash-completion/completions/movieapp

zsh (a directory in $fpath, before compinit runs):
  movieapp completions zsh > \"${fpath[1]}/_movieapp\"

fish:
  movieapp completions fish > ~/.config/fish/completions/movieapp.fish

elvish (loaded from rc.elv):
  movieapp completions elvish > ~/.config/elvish/lib/movieapp.elv
  echo 'use movieapp' >> ~/.config/elvish/rc.elv

PowerShell (loaded from your profile):
  movieapp completions powershell >> $PROFILE")]
pub struct Args {
    /// Shell to generate the script for
    #[arg(value_enum)]
    shell: Shell,
}

/// The completion script for `shell`.
pub fn render(shell: Shell) -> String {
    let mut buf = Vec::new();
    // Written to memory first: clap_complete panics on a failed write, e.g. to a closed pipe.
    clap_complete::generate(shell, &mut Cli::command(), "movieapp", &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// Where the committed script for `shell` lives, relative to the repository root.
pub fn committed_path(shell: Shell) -> Option<&'static str> {
    match shell {
        Shell::Bash => Some("completions/movieapp.bash"),
        Shell::Zsh => Some("completions/_movieapp"),
        Shell::Fish => Some("completions/movieapp.fish"),
        _ => None,
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let script = render(args.shell);
    output::line(script.trim_end())?;
    Ok(())
}
