//! Engine errors: one message, worded once in the vocabulary of the door the request came
//! through, with what a door needs to act on it as typed values: its [`Kind`] (the door's
//! code), the [`Field`] the user got wrong, what a conflict is about ([`Clash`]), and the
//! kernel's or the store's own error as its source.

use crate::vocab::Field;

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

/// What a conflict is about, where a door acts on it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Clash {
    /// A network of that name (or id) exists already: a door that creates networks on
    /// demand (CNI) uses the one another request made first.
    NetworkExists,
    /// A network kept changing under the request (concurrent attaches and detaches of the
    /// same configuration): the request may be tried again.
    KeptChanging,
    /// Anything else: an address, MAC or name in use, endpoints still attached, a network
    /// another runtime manages.
    #[default]
    Other,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is invalid; nothing was changed. `field`: the request's field that holds
    /// the bad value, when one does.
    #[error("{message}")]
    Invalid {
        message: String,
        field: Option<Field>,
        #[source]
        source: Option<Box<ipam::Error>>,
    },
    /// A named network, endpoint or namespace does not exist.
    #[error("{message}")]
    NotFound { message: String },
    /// The request conflicts with existing state; `field`: the request's field whose value
    /// is taken, when one is.
    #[error("{message}")]
    Conflict {
        message: String,
        clash: Clash,
        field: Option<Field>,
    },
    /// The kernel refused, or lacks a feature; what was done was rolled back. `source`: the
    /// netlink client's error (with the errno), when the kernel answered one.
    #[error("{message}")]
    Kernel {
        message: String,
        #[source]
        source: Option<Box<netlink::Error>>,
    },
    /// The state could not be read or written.
    #[error("{message}")]
    Store {
        message: String,
        #[source]
        source: Option<Box<store::Error>>,
    },
}

impl Error {
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid {
            message: message.into(),
            field: None,
            source: None,
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Error::NotFound {
            message: message.into(),
        }
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Error::Conflict {
            message: message.into(),
            clash: Clash::Other,
            field: None,
        }
    }
    /// A network of that name or id exists already.
    pub fn network_exists(message: impl Into<String>) -> Self {
        Error::Conflict {
            message: message.into(),
            clash: Clash::NetworkExists,
            field: None,
        }
    }
    pub fn kernel(message: impl Into<String>) -> Self {
        Error::Kernel {
            message: message.into(),
            source: None,
        }
    }
    /// The kernel refused: `message` says what failed (worded with [`kernel_reason`]),
    /// `source` is the client's error.
    pub fn kernel_from(message: impl Into<String>, source: netlink::Error) -> Self {
        Error::Kernel {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }
    pub fn store(message: impl Into<String>) -> Self {
        Error::Store {
            message: message.into(),
            source: None,
        }
    }

    /// The same error, naming `field` as the one holding the bad or taken value.
    pub fn on(mut self, f: Field) -> Self {
        match &mut self {
            Error::Invalid { field, .. } | Error::Conflict { field, .. } => *field = Some(f),
            _ => {}
        }
        self
    }

    pub fn kind(&self) -> Kind {
        match self {
            Error::Invalid { .. } => Kind::InvalidParameter,
            Error::NotFound { .. } => Kind::NotFound,
            Error::Conflict { .. } => Kind::Conflict,
            Error::Kernel { .. } => Kind::Kernel,
            Error::Store { .. } => Kind::Store,
        }
    }

    /// The message, as every door shows it.
    pub fn message(&self) -> &str {
        match self {
            Error::Invalid { message, .. }
            | Error::NotFound { message }
            | Error::Conflict { message, .. }
            | Error::Kernel { message, .. }
            | Error::Store { message, .. } => message,
        }
    }

    /// The request's field that holds the bad or taken value, if one does.
    pub fn field(&self) -> Option<Field> {
        match self {
            Error::Invalid { field, .. } | Error::Conflict { field, .. } => *field,
            _ => None,
        }
    }

    /// What a conflict is about (`None` for other kinds).
    pub fn clash(&self) -> Option<Clash> {
        match self {
            Error::Conflict { clash, .. } => Some(*clash),
            _ => None,
        }
    }

    /// The errno the kernel answered, when it answered one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kernel {
                source: Some(e), ..
            } => e.errno(),
            _ => None,
        }
    }

    /// Whether the cluster store could not be reached (try again later: nothing was made).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Error::Store { source: Some(s), .. } if matches!(**s, store::Error::Cluster { .. })
        )
    }

    /// The same error with `prefix` before its message (the kind, field and source kept).
    pub fn prefixed(mut self, prefix: &str) -> Self {
        match &mut self {
            Error::Invalid { message, .. }
            | Error::NotFound { message }
            | Error::Conflict { message, .. }
            | Error::Kernel { message, .. }
            | Error::Store { message, .. } => *message = format!("{prefix}{message}"),
        }
        self
    }
}

impl From<store::Error> for Error {
    fn from(e: store::Error) -> Self {
        Error::Store {
            message: e.to_string(),
            source: Some(Box::new(e)),
        }
    }
}

impl From<ipam::Error> for Error {
    fn from(e: ipam::Error) -> Self {
        Error::Invalid {
            message: e.to_string(),
            field: None,
            source: Some(Box::new(e)),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

// Every fallible call returns one: kept small (the causes are boxed).
const _: () = assert!(std::mem::size_of::<Error>() <= 48);

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_field_clash_and_errno_are_values_not_words() {
        let e = Error::invalid("invalid --ip 1.2.3: expected an IPv4 address").on(Field::Ip);
        assert_eq!(e.kind(), Kind::InvalidParameter);
        assert_eq!(e.field(), Some(Field::Ip));
        assert_eq!(
            e.to_string(),
            "invalid --ip 1.2.3: expected an IPv4 address"
        );
        let e = Error::network_exists("network with name lan already exists");
        assert_eq!(e.clash(), Some(Clash::NetworkExists));
        assert_eq!(Error::conflict("in use").clash(), Some(Clash::Other));
        let source = netlink::Error::Kernel {
            op: "create link x".into(),
            source: std::io::Error::from_raw_os_error(libc::EEXIST),
        };
        let e = Error::kernel_from(
            format!("cannot create x: {}", kernel_reason(&source)),
            source,
        );
        assert_eq!(e.message(), "cannot create x: file exists");
        assert_eq!(e.errno(), Some(libc::EEXIST));
        assert!(std::error::Error::source(&e).is_some(), "the cause is kept");
        let e = e.prefixed("network lan: ");
        assert_eq!(e.message(), "network lan: cannot create x: file exists");
        assert_eq!(e.kind(), Kind::Kernel);
        assert_eq!(e.errno(), Some(libc::EEXIST));
    }
}
