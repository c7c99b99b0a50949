//! `movieapp completions`: shell completion scripts, generated from the CLI definition.
//! The committed copies under `completions/` are kept in sync by a test.

use clap_complete::Shell;

use super::output;

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
    clap_complete::generate(shell, &mut completed(), "movieapp", &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// The command line as completions offer it: each shared option only on the commands that
/// use it (the scripts list hidden options too, so hiding is not enough).
fn completed() -> clap::Command {
    let mut cli = <super::Cli as clap::CommandFactory>::command();
    let mut shared = Vec::new();
    for (option, users) in super::USED_BY {
        let Some(arg) = cli.get_arguments().find(|a| a.get_id() == option).cloned() else {
            continue;
        };
        cli = cli.mut_arg(option, |a| a.global(false));
        shared.push((arg, *users));
    }
    for name in super::subcommand_names(&cli) {
        cli = cli.mut_subcommand(&name, |mut sub| {
            for (arg, users) in &shared {
                if users.contains(&name.as_str()) {
                    sub = sub.arg(arg.clone());
                }
            }
            sub
        });
    }
    cli
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
