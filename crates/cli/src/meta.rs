//! What underlay says about itself: `version` (as `docker version` prints, with `--format`),
//! shell completions and man pages, both generated from the CLI's own definition.

use std::io::Write;
use std::path::Path;

use clap::{Args, CommandFactory, ValueEnum};
use serde_json::json;

use crate::format::{self, Format};

#[derive(Args)]
pub struct VersionArgs {
    /// Format the output using the given Go template (e.g. '{{.Version}}'), or "json".
    #[arg(short, long)]
    format: Option<String>,
}

#[derive(Args)]
pub struct CompletionArgs {
    /// The shell to complete underlay's commands in.
    shell: Shell,
}

#[derive(Clone, Copy, ValueEnum)]
enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Args)]
pub struct ManArgs {
    /// Write underlay.1 and a page per command (underlay-network-create.1, ...) into this
    /// directory instead of underlay.1 to standard output.
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
}

/// The kernel's release (`uname -r`).
fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

fn facts(state_dir: &Path) -> serde_json::Value {
    json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "Os": std::env::consts::OS,
        "Arch": go_arch(std::env::consts::ARCH),
        "KernelVersion": kernel(),
        "CniVersions": cni::SUPPORTED_VERSIONS,
        "PluginApis": ["NetworkDriver", "IpamDriver"],
        "StateDir": state_dir.display().to_string(),
    })
}

/// Go's (and Docker's) names for architectures.
fn go_arch(rust: &str) -> &str {
    match rust {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

pub fn version(state_dir: &Path, a: &VersionArgs) -> Result<(), String> {
    let v = facts(state_dir);
    match a.format.as_deref() {
        Some(format::JSON) | Some("{{json .}}") => println!("{v}"),
        Some(f) => {
            const FIELDS: &str =
                ".Version, .Os, .Arch, .KernelVersion, .CniVersions, .PluginApis and .StateDir";
            let t = Format::parse(f, FIELDS, false)?;
            print!(
                "{}",
                t.render(
                    &Default::default(),
                    &[(format::value(&v), Default::default())]
                )?
            );
        }
        None => {
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            let list = |k: &str| {
                let items: Vec<&str> = v[k]
                    .as_array()
                    .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
                    .unwrap_or_default();
                items.join(", ")
            };
            println!("underlay:");
            println!(" Version:            {}", s("Version"));
            println!(" OS/Arch:            {}/{}", s("Os"), s("Arch"));
            println!(" Kernel:             {}", s("KernelVersion"));
            println!(" CNI versions:       {}", list("CniVersions"));
            println!(" Docker plugin APIs: {}", list("PluginApis"));
            println!(" State directory:    {}", s("StateDir"));
        }
    }
    Ok(())
}

pub fn completion(a: &CompletionArgs) {
    let mut cmd = crate::Cli::command();
    let shell = match a.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, &mut cmd, "underlay", &mut std::io::stdout());
}

pub fn man(a: &ManArgs) -> Result<(), String> {
    let cmd = crate::Cli::command();
    let Some(dir) = &a.dir else {
        let mut out = std::io::stdout().lock();
        clap_mangen::Man::new(cmd)
            .render(&mut out)
            .map_err(|e| e.to_string())?;
        return out.flush().map_err(|e| e.to_string());
    };
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut pages = Vec::new();
    collect(cmd, "underlay", &mut pages);
    for (name, page) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut buf = Vec::new();
        clap_mangen::Man::new(page)
            .render(&mut buf)
            .map_err(|e| e.to_string())?;
        std::fs::write(&path, buf).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// A page for `cmd`, named `name`, and one for each of its visible subcommands
/// (`underlay-network-create`).
fn collect(cmd: clap::Command, name: &str, pages: &mut Vec<(String, clap::Command)>) {
    let subs: Vec<clap::Command> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    pages.push((name.to_string(), cmd.name(name.to_string())));
    for s in subs {
        let sub_name = format!("{name}-{}", s.get_name());
        collect(s, &sub_name, pages);
    }
}
