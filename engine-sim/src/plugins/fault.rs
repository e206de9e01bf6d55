//! Fault injection: the engine↔plugin path misbehaving on purpose.
//!
//! Plugins fail in production in ways a happy-path test never shows: a plugin
//! that hangs, answers garbage, drops the connection halfway, or is not there
//! yet. [`Faults`] is a shared set of such misbehaviours; the [`Registry`]
//! wraps every plugin's transport (in-process, unix, TCP alike) in a
//! [`FaultTransport`] that consults it before each request. The engine above
//! it — [`PluginClient`]'s retries and timeouts, the subsystems' error texts —
//! is the unchanged dockerd simulation, so what a scenario sees is what
//! dockerd 20.10 does when a plugin misbehaves that way.
//!
//! Three kinds of fault:
//! * per request ([`CallFault`]): a rule naming a plugin, a method (or every
//!   method) and what happens to the next request, the next N, or all of them
//!   ([`Scope`]). Each HTTP request counts, retries included.
//! * refusal ([`Faults::refuse`]): connections to a plugin are refused, as
//!   when its process was killed and left its socket behind, optionally only
//!   until a moment of engine time (a plugin that comes back).
//! * invisibility ([`Faults::hide`]): discovery does not see a plugin until a
//!   moment of engine time (a socket that appears late).
//!
//! Every wait here is on the engine's [`Clock`], so a 2-minute delay costs
//! nothing in a scenario run. A delay or hang inside a virtual
//! [`timeout`](crate::clock::timeout) ends at the deadline.
//!
//! [`Registry`]: crate::plugins::registry::Registry
//! [`PluginClient`]: crate::plugins::client::PluginClient

use crate::clock::Clock;
use crate::plugins::transport::{BoxFuture, RawReply, Transport, TransportError};
use bytes::Bytes;
use drydock_sdk::wire::encode_go;
use drydock_sdk::wire::plugin::ActivateResponse;
use drydock_sdk::wire::volume::{GetResponse, ListResponse};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What happens to a request a rule catches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultAction {
    /// A slow plugin: it handles the request at once, and its answer
    /// arrives this much engine time later. (If dockerd gives up first, the
    /// work is done all the same.)
    Delay(Duration),
    /// The plugin never answers (it never acts on the request either).
    Hang,
    /// An answer instead of the plugin's: this status and exactly this body.
    Reply {
        /// HTTP status.
        status: u16,
        /// Body, verbatim.
        body: Bytes,
    },
    /// `Plugin.Activate` answered with this list as `Implements`.
    Implements(Vec<String>),
    /// The plugin answers, then every volume's `CreatedAt` in a `Get` or
    /// `List` answer is replaced by this text.
    CreatedAt(String),
    /// The plugin closes the connection after the request headers, without
    /// reading the body: it never handles the request. Go has already written
    /// the body by then, so dockerd's retry carries an **empty** body, as
    /// after [`FaultAction::DropAfterBody`] (recorded:
    /// `tests/golden/faults/f-mount-drop.jsonl`).
    DropBeforeBody,
    /// The plugin reads the whole request, then the connection closes
    /// without an answer (the plugin did not act on it): dockerd's retry
    /// carries an **empty** body.
    DropAfterBody,
    /// The plugin handles the request and answers, but the connection closes
    /// before the answer arrives: the plugin did the work, and dockerd's
    /// retry delivers the call a second time, with an **empty** body.
    DropAnswer,
    /// The plugin process dies on receiving the request: this request ends
    /// like [`FaultAction::DropBeforeBody`], and connections are refused
    /// from then on — for good, or until this much engine time has passed
    /// (a supervisor restarting it). See [`Faults::set_dial_refused`].
    Crash(Option<Duration>),
}

/// Which requests a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The next N matching requests (the next one when N is 1).
    Next(u32),
    /// Every matching request until the rule is cleared.
    Always,
}

/// One per-request fault rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallFault {
    /// The plugin's name.
    pub plugin: String,
    /// `Protocol.Method`, or `None` for every method.
    pub method: Option<String>,
    /// Only requests whose body contains this text (`METHOD~TEXT`), e.g. an
    /// AuthZReq for `/v1.41/volumes` but not the CLI's `/_ping` before it.
    /// An empty retry never matches.
    pub body_contains: Option<String>,
    /// What happens.
    pub action: FaultAction,
    /// How many requests it catches.
    pub scope: Scope,
}

/// The default body of [`FaultAction::Reply`] for a status: what Go's
/// `net/http` muxer answers for an unknown path (`404 page not found\n`) for
/// 404, nothing otherwise.
pub fn default_body(status: u16) -> Bytes {
    if status == 404 {
        Bytes::from_static(b"404 page not found\n")
    } else {
        Bytes::new()
    }
}

/// A body Go's JSON decoder refuses with `unexpected EOF`: a truncated object.
pub const INVALID_JSON: &[u8] = b"{\"Volume\": {";

/// A request waiting inside the fault layer (delayed or hung), for reports
/// such as "dockerd would hang here".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InFlight {
    /// The plugin's name.
    pub plugin: String,
    /// The RPC method.
    pub method: String,
    /// The request body.
    pub request: Bytes,
    /// Engine time when the request started waiting.
    pub since: Duration,
}

#[derive(Debug)]
struct Refusal {
    /// Engine time from which connections work again; `None`: until cleared.
    until: Option<Duration>,
    /// The dial error, as Go words it for this plugin's address.
    message: String,
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<CallFault>,
    /// Per plugin, Go's text for a refused dial of its address.
    dial_refused: HashMap<String, String>,
    refused: HashMap<String, Refusal>,
    hidden: HashMap<String, Duration>,
    in_flight: Vec<(u64, InFlight)>,
    next_id: u64,
}

/// The shared set of faults of one engine. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Faults {
    clock: Arc<dyn Clock>,
    state: Arc<Mutex<State>>,
    /// Whether any fault was ever set: until then requests skip the lock.
    armed: Arc<AtomicBool>,
}

impl Faults {
    /// An empty set, timed by `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Faults {
            clock,
            state: Arc::default(),
            armed: Arc::default(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.armed.store(true, Ordering::SeqCst);
        self.state.lock().expect("faults lock")
    }

    /// Adds a per-request rule. Rules are tried in the order they were added.
    pub fn add(&self, fault: CallFault) {
        self.state().rules.push(fault);
    }

    /// Removes every rule, refusal and hiding of `plugin` (of every plugin
    /// when `None`).
    pub fn clear(&self, plugin: Option<&str>) {
        let mut s = self.state();
        match plugin {
            None => {
                s.rules.clear();
                s.refused.clear();
                s.hidden.clear();
            }
            Some(p) => {
                s.rules.retain(|r| r.plugin != p);
                s.refused.remove(p);
                s.hidden.remove(p);
            }
        }
    }

    /// Connections to `plugin` fail with `message` (Go's dial error text,
    /// e.g. `dial unix /run/docker/plugins/p.sock: connect: connection
    /// refused`) until engine time `until`, or until [`Faults::allow`].
    pub fn refuse(&self, plugin: &str, until: Option<Duration>, message: impl Into<String>) {
        self.state().refused.insert(
            plugin.to_owned(),
            Refusal {
                until,
                message: message.into(),
            },
        );
    }

    /// Go's text for a refused dial of `plugin`'s address (`dial unix
    /// /run/docker/plugins/p.sock: connect: connection refused`), used when
    /// a [`FaultAction::Crash`] leaves the plugin dead. The runner sets it for
    /// the plugins it starts.
    pub fn set_dial_refused(&self, plugin: &str, message: impl Into<String>) {
        self.state()
            .dial_refused
            .insert(plugin.to_owned(), message.into());
    }

    /// Ends a refusal.
    pub fn allow(&self, plugin: &str) {
        self.state().refused.remove(plugin);
    }

    /// Discovery does not see `plugin` until engine time `until`.
    pub fn hide(&self, plugin: &str, until: Duration) {
        self.state().hidden.insert(plugin.to_owned(), until);
    }

    /// Whether discovery must not see `plugin` now.
    pub fn is_hidden(&self, plugin: &str) -> bool {
        if !self.armed.load(Ordering::SeqCst) {
            return false;
        }
        let now = self.clock.elapsed();
        self.state
            .lock()
            .expect("faults lock")
            .hidden
            .get(plugin)
            .is_some_and(|until| now < *until)
    }

    /// The requests waiting in the fault layer right now, oldest first.
    pub fn in_flight(&self) -> Vec<InFlight> {
        let s = self.state.lock().expect("faults lock");
        s.in_flight.iter().map(|(_, f)| f.clone()).collect()
    }

    /// The refusal or the rule that applies to this request, consuming one
    /// use of the rule.
    fn decide(&self, plugin: &str, method: &str, body: &[u8]) -> Decision {
        if !self.armed.load(Ordering::SeqCst) {
            return Decision::Pass;
        }
        let now = self.clock.elapsed();
        let mut s = self.state.lock().expect("faults lock");
        if let Some(r) = s.refused.get(plugin) {
            if r.until.is_none_or(|until| now < until) {
                return Decision::Refuse(r.message.clone());
            }
        }
        let found = s.rules.iter().position(|r| {
            r.plugin == plugin
                && r.method.as_deref().is_none_or(|m| m == method)
                && r.body_contains
                    .as_deref()
                    .is_none_or(|t| contains(body, t.as_bytes()))
        });
        let Some(i) = found else {
            return Decision::Pass;
        };
        let action = s.rules[i].action.clone();
        match &mut s.rules[i].scope {
            Scope::Always => {}
            Scope::Next(n) if *n > 1 => *n -= 1,
            Scope::Next(_) => {
                s.rules.remove(i);
            }
        }
        Decision::Act(action)
    }

    fn wait_start(&self, plugin: &str, method: &str, request: &Bytes) -> WaitGuard {
        let mut s = self.state.lock().expect("faults lock");
        let id = s.next_id;
        s.next_id += 1;
        s.in_flight.push((
            id,
            InFlight {
                plugin: plugin.to_owned(),
                method: method.to_owned(),
                request: request.clone(),
                since: self.clock.elapsed(),
            },
        ));
        WaitGuard {
            faults: self.clone(),
            id,
        }
    }
}

/// Removes an [`InFlight`] entry when its request stops waiting (or is
/// given up).
struct WaitGuard {
    faults: Faults,
    id: u64,
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        if let Ok(mut s) = self.faults.state.lock() {
            s.in_flight.retain(|(id, _)| *id != self.id);
        }
    }
}

enum Decision {
    Pass,
    Refuse(String),
    Act(FaultAction),
}

/// A plugin's transport with the engine's [`Faults`] applied.
#[derive(Debug)]
pub struct FaultTransport {
    plugin: String,
    inner: Arc<dyn Transport>,
    faults: Faults,
}

impl FaultTransport {
    /// Wraps `inner`, the transport of `plugin`.
    pub fn new(plugin: &str, inner: Arc<dyn Transport>, faults: Faults) -> Self {
        FaultTransport {
            plugin: plugin.to_owned(),
            inner,
            faults,
        }
    }

    /// The wrapped transport.
    pub fn inner(&self) -> &Arc<dyn Transport> {
        &self.inner
    }

    async fn exchange(&self, method: &str, body: Bytes) -> Result<RawReply, TransportError> {
        let action = match self.faults.decide(&self.plugin, method, &body) {
            Decision::Pass => return self.inner.round_trip(method, body).await,
            Decision::Refuse(message) => {
                return Err(TransportError {
                    message,
                    body_sent: false,
                })
            }
            Decision::Act(action) => action,
        };
        tracing::debug!(plugin = %self.plugin, method, ?action, "injected fault");
        match action {
            FaultAction::Delay(d) => {
                let _waiting = self.faults.wait_start(&self.plugin, method, &body);
                let reply = self.inner.round_trip(method, body).await;
                self.faults.clock.sleep(d).await;
                reply
            }
            FaultAction::Hang => {
                let _waiting = self.faults.wait_start(&self.plugin, method, &body);
                self.faults.clock.sleep(Duration::MAX).await;
                // A virtual clock never ends such a sleep; a real one would
                // after ~585 years. Either way nothing was answered.
                Err(TransportError {
                    message: "EOF".into(),
                    body_sent: !body.is_empty(),
                })
            }
            FaultAction::Reply { status, body } => Ok(RawReply { status, body }),
            FaultAction::Implements(list) => Ok(RawReply {
                status: 200,
                body: Bytes::from(encode_go(&ActivateResponse {
                    implements: Some(list),
                })),
            }),
            FaultAction::CreatedAt(text) => {
                let mut reply = self.inner.round_trip(method, body).await?;
                if reply.status == 200 {
                    reply.body = with_created_at(method, &reply.body, &text);
                }
                Ok(reply)
            }
            FaultAction::DropBeforeBody => Err(TransportError {
                message: "EOF".into(),
                body_sent: !body.is_empty(),
            }),
            FaultAction::Crash(back_after) => {
                let now = self.faults.clock.elapsed();
                let mut s = self.faults.state.lock().expect("faults lock");
                let message = s
                    .dial_refused
                    .get(&self.plugin)
                    .cloned()
                    .unwrap_or_else(|| {
                        format!(
                            "dial unix /run/docker/plugins/{}.sock: connect: connection refused",
                            self.plugin
                        )
                    });
                s.refused.insert(
                    self.plugin.clone(),
                    Refusal {
                        until: back_after.map(|d| now + d),
                        message,
                    },
                );
                Err(TransportError {
                    message: "EOF".into(),
                    body_sent: !body.is_empty(),
                })
            }
            FaultAction::DropAfterBody => Err(TransportError {
                message: "EOF".into(),
                body_sent: !body.is_empty(),
            }),
            FaultAction::DropAnswer => {
                let sent = !body.is_empty();
                // The plugin does the work; its answer is lost with the connection.
                let _ = self.inner.round_trip(method, body).await?;
                Err(TransportError {
                    message: "EOF".into(),
                    body_sent: sent,
                })
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Rewrites the `CreatedAt` of the volume(s) in a `Get` or `List` answer;
/// other answers (and bodies that do not decode) are left alone.
fn with_created_at(method: &str, body: &[u8], text: &str) -> Bytes {
    match method {
        "VolumeDriver.Get" => match serde_json::from_slice::<GetResponse>(body) {
            Ok(mut r) => {
                if let Some(v) = r.volume.as_mut() {
                    v.created_at = Some(text.to_owned());
                }
                Bytes::from(encode_go(&r))
            }
            Err(_) => Bytes::copy_from_slice(body),
        },
        "VolumeDriver.List" => match serde_json::from_slice::<ListResponse>(body) {
            Ok(mut r) => {
                for v in r.volumes.iter_mut().flatten() {
                    v.created_at = Some(text.to_owned());
                }
                Bytes::from(encode_go(&r))
            }
            Err(_) => Bytes::copy_from_slice(body),
        },
        _ => Bytes::copy_from_slice(body),
    }
}

impl Transport for FaultTransport {
    fn round_trip<'a>(
        &'a self,
        method: &'a str,
        body: Bytes,
    ) -> BoxFuture<'a, Result<RawReply, TransportError>> {
        Box::pin(self.exchange(method, body))
    }

    fn url(&self, method: &str) -> String {
        self.inner.url(method)
    }

    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
}
