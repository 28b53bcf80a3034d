//! Engine errors: one message, worded once, rendered by every front door.

use std::fmt;

/// What kind of failure, so front doors can map it (Docker: HTTP status, CNI: error code,
/// CLI: exit status).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The request is invalid; nothing was changed.
    InvalidParameter,
    /// A named network, endpoint or namespace does not exist.
    NotFound,
    /// The request conflicts with existing state (in use, exists already, has endpoints).
    Conflict,
    /// The kernel refused or lacks a feature; everything done so far was rolled back.
    Kernel,
    /// The state directory could not be read or written.
    Store,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
}

impl Error {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: Kind::InvalidParameter,
            message: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            kind: Kind::NotFound,
            message: message.into(),
        }
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            kind: Kind::Conflict,
            message: message.into(),
        }
    }
    pub fn kernel(message: impl Into<String>) -> Self {
        Self {
            kind: Kind::Kernel,
            message: message.into(),
        }
    }
    pub fn store(message: impl Into<String>) -> Self {
        Self {
            kind: Kind::Store,
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<store::Error> for Error {
    fn from(e: store::Error) -> Self {
        Error::store(e.to_string())
    }
}

impl From<ipam::Error> for Error {
    fn from(e: ipam::Error) -> Self {
        Error::invalid(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Render a netlink error without the redundant "os error N" suffix.
pub fn kernel_reason(e: &netlink::Error) -> String {
    match e.errno() {
        Some(errno) => {
            let s = std::io::Error::from_raw_os_error(errno).to_string();
            let s = s.split(" (os error").next().unwrap_or(&s).to_string();
            lowercase_first(&s)
        }
        None => e.to_string(),
    }
}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
