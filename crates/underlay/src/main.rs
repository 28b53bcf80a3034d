//! `underlay`: the binary. The CLI (crates/cli), the CNI plugin when a runtime runs it with
//! CNI_COMMAND set, and the background half of a CNI DEL; its allocator (arena.rs).

use std::process::ExitCode;

use clap::Parser;

mod arena;

fn main() -> ExitCode {
    // Like other command-line tools, end quietly when the reader of our output goes away
    // (`underlay network inspect x | grep -q y`) instead of panicking on EPIPE.
    // SAFETY: setting a signal's disposition to the default before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // The background half of a CNI DEL.
    if let Ok(job) = std::env::var(cni::detached_del::FINISH_ENV) {
        return ExitCode::from(cni::detached_del::run(&job) as u8);
    }
    // Run by a CNI runtime: the same binary is the CNI plugin (`"type": "underlay"`).
    if std::env::var_os("CNI_COMMAND").is_some() {
        return ExitCode::from(cni::run() as u8);
    }
    let cli = cli::Cli::parse();
    match cli::dispatch(cli, arena::long_lived) {
        Ok(code) => code,
        Err(msg) => {
            eprintln!("Error: {msg}");
            ExitCode::from(1)
        }
    }
}
