//! How a plugin handler reports failure.

use http::StatusCode;

/// A failed RPC: a message for dockerd and the way it is delivered.
///
/// dockerd reads errors in two places (protocol.md §3.3):
/// * **out of band** — any status other than 200, body `{"Err": msg}`; dockerd
///   reports `<Method>: <msg>` (e.g. `VolumeDriver.Mount: disk full`). This is the
///   default, with status 500, as go-plugins-helpers does.
/// * **in band** — status 200 with the protocol's error field (`Err`, or `Error`
///   for IPAM); dockerd reports just `<msg>`. Use [`PluginError::in_band`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    message: String,
    delivery: Delivery,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    Status(StatusCode),
    InBand,
}

impl PluginError {
    /// An error answered with status 500 and `{"Err": message}`.
    pub fn new(message: impl Into<String>) -> Self {
        Self::with_status(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// An error answered with `status` and `{"Err": message}`.
    ///
    /// A status of 200 here means the same as [`PluginError::in_band`].
    pub fn with_status(status: StatusCode, message: impl Into<String>) -> Self {
        let delivery = if status == StatusCode::OK {
            Delivery::InBand
        } else {
            Delivery::Status(status)
        };
        PluginError {
            message: message.into(),
            delivery,
        }
    }

    /// An error answered with status 200 and the protocol's in-band error field.
    pub fn in_band(message: impl Into<String>) -> Self {
        PluginError {
            message: message.into(),
            delivery: Delivery::InBand,
        }
    }

    /// 400: the request could not be understood.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::with_status(StatusCode::BAD_REQUEST, message)
    }

    /// 404: the plugin does not implement `method`. dockerd treats a 404 from
    /// the optional network methods as "not implemented, fine".
    pub fn not_implemented(method: &str) -> Self {
        Self::with_status(
            StatusCode::NOT_FOUND,
            format!("plugin does not implement {method}"),
        )
    }

    /// The message dockerd will show.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status the error is answered with (200 for in-band errors).
    pub fn status(&self) -> StatusCode {
        match self.delivery {
            Delivery::Status(s) => s,
            Delivery::InBand => StatusCode::OK,
        }
    }

    /// Whether the error travels in a 200 body.
    pub fn is_in_band(&self) -> bool {
        self.delivery == Delivery::InBand
    }
}

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PluginError {}
