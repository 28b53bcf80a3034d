//! Logs to stderr or to the systemd journal (native protocol, with priorities and fields).

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Where logs go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogTarget {
    /// The journal when systemd connected stderr to it (`JOURNAL_STREAM`), else stderr.
    Auto,
    Stderr,
    Journald,
}

impl std::str::FromStr for LogTarget {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(LogTarget::Auto),
            "stderr" => Ok(LogTarget::Stderr),
            "journald" => Ok(LogTarget::Journald),
            other => Err(format!(
                "invalid log target {other:?}: expected auto, stderr or journald"
            )),
        }
    }
}

/// Install the logger. `filter` is a tracing filter (`info`, `debug`, `underlay_docker=debug`);
/// an invalid one falls back to `info` with a warning.
pub fn init(target: LogTarget, filter: &str) {
    let (env, bad) = match EnvFilter::try_new(filter) {
        Ok(f) => (f, None),
        Err(e) => (EnvFilter::new("info"), Some(e)),
    };
    let journal = match target {
        LogTarget::Stderr => None,
        LogTarget::Journald => Some(tracing_journald::layer()),
        LogTarget::Auto if std::env::var_os("JOURNAL_STREAM").is_some() => {
            Some(tracing_journald::layer())
        }
        LogTarget::Auto => None,
    };
    let mut journal_error = None;
    let layer = match journal {
        Some(Ok(j)) => j.with_syslog_identifier("underlay".to_string()).boxed(),
        other => {
            if let Some(Err(e)) = other {
                journal_error = Some(e);
            }
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false)
                .with_target(false)
                .boxed()
        }
    };
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(env))
        .try_init();
    if let Some(e) = bad {
        tracing::warn!("invalid log filter {filter:?} ({e}); logging at info");
    }
    if let Some(e) = journal_error {
        tracing::warn!("cannot log to the journal ({e}); logging to stderr");
    }
}
