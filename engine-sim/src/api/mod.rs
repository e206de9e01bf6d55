//! The Engine API: the one way into the daemon, for every client.
//!
//! A request — method, target, headers, body bytes — goes to the
//! [`Router`], which matches it to a [`router::Route`] (with or without a
//! `/v1.NN` prefix), runs it through the authz middleware
//! ([`middleware::Exchange`]: `AuthZReq`, the handler, `AuthZRes`) and
//! answers as dockerd 20.10 does. The handlers ([`handlers`]) read bodies into
//! the API's types ([`types`]) and call the daemon ([`crate::daemon`]); they
//! know nothing of any client's syntax or output.
//!
//! * [`http`] — requests and responses ([`ApiRequest`], [`ApiResponse`]) and
//!   what of them the authz chain sees.
//! * [`router`] — routes, version prefixes, the daemon's versions.
//! * [`middleware`] — the authz middleware and the request log.
//! * [`handlers`] — one handler per route; [`system`] — `/info`,
//!   `/system/df`, `/plugins` and the images.
//! * [`types`] — request bodies as dockerd's API types define them, decoded
//!   as Go decodes them; [`gojson`] — Go's words for malformed JSON.

pub mod gojson;
pub mod handlers;
pub mod http;
pub mod middleware;
pub mod router;
pub mod system;
pub mod types;

pub use http::{
    query, query_escape, ApiRequest, ApiResponse, WireResponse, MAX_AUTHZ_BODY, USER_AGENT,
};
pub use middleware::Exchange;
pub use router::{Route, RouteError, Router, API_VERSION, MIN_API_VERSION, SERVER_VERSION};
