//! The daemon's errors, classed as dockerd classes them (its `errdefs`
//! package): the class decides the HTTP status of the API response, in one
//! place ([`ErrorKind::status`]); the message is dockerd's exact text, which
//! the CLI prints after `Error response from daemon: `.
//!
//! Code that needs to react to an error matches on its [`ErrorKind`], never
//! on its text.

/// dockerd's error classes (`errdefs.Is…`), with the status its API server
/// answers each with (`errdefs.GetHTTPErrorStatusCode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// `errdefs.InvalidParameter`: 400.
    InvalidParameter,
    /// `errdefs.Forbidden`: 403 (an authz denial, a predefined network).
    Forbidden,
    /// `errdefs.NotFound`: 404.
    NotFound,
    /// `errdefs.Conflict`: 409 (a name in use, a volume in use).
    Conflict,
    /// `errdefs.Unavailable`: 503.
    Unavailable,
    /// `errdefs.NotImplemented`: 501 (what drydock does not simulate).
    NotImplemented,
    /// `errdefs.System`, and every error dockerd does not class: 500.
    System,
}

impl ErrorKind {
    /// The HTTP status dockerd answers an error of this class with.
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::InvalidParameter => 400,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::Unavailable => 503,
            ErrorKind::NotImplemented => 501,
            ErrorKind::System => 500,
        }
    }
}

/// An error as the daemon returns it to the client: its class and dockerd's
/// message (the CLI prints `Error response from daemon: <message>`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EngineError {
    /// The class, which decides the HTTP status.
    pub kind: ErrorKind,
    /// dockerd's message.
    pub message: String,
}

impl EngineError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        EngineError {
            kind,
            message: message.into(),
        }
    }

    /// A 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// A 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// A 400.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidParameter, message)
    }

    /// A 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }

    /// A 500.
    pub fn system(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::System, message)
    }

    /// The HTTP status of the API response carrying this error.
    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// The same class with the message rewritten, as dockerd wraps an error
    /// in context (`errors.Wrap`) without changing its class.
    pub fn wrap(self, f: impl FnOnce(String) -> String) -> Self {
        EngineError {
            kind: self.kind,
            message: f(self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_class_has_dockerds_status() {
        let table = [
            (ErrorKind::InvalidParameter, 400),
            (ErrorKind::Forbidden, 403),
            (ErrorKind::NotFound, 404),
            (ErrorKind::Conflict, 409),
            (ErrorKind::Unavailable, 503),
            (ErrorKind::System, 500),
        ];
        for (kind, status) in table {
            assert_eq!(kind.status(), status, "{kind:?}");
        }
    }

    #[test]
    fn wrapping_keeps_the_class() {
        let e = EngineError::conflict("volume is in use").wrap(|m| format!("remove v: {m}"));
        assert_eq!(e.status(), 409);
        assert_eq!(e.to_string(), "remove v: volume is in use");
    }
}
