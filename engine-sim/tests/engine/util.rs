//! A raw HTTP responder for tests: it records the exact request bytes dockerd's
//! client would send and answers with canned bytes, so status/body shapes that
//! no well-behaved server produces (empty 200, 201, plain text 500, dropped
//! connections) can be tested.

use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

/// A request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub head: String,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or("")
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

/// What the responder does with the n-th request (0-based).
pub enum Action {
    /// Write these bytes as the whole response (keep the connection open).
    Respond(Vec<u8>),
    /// Read the request, then close the connection without answering.
    Drop,
    /// Read the request and never answer.
    Hang,
}

pub fn http(status: &str, body: &str) -> Action {
    Action::Respond(
        format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

/// The requests received so far.
pub type Log = Arc<Mutex<Vec<Seen>>>;

/// Serves on a unix socket; `script(i, &seen)` decides the answer to request i.
pub fn serve_unix(
    path: &Path,
    script: impl Fn(usize, &Seen) -> Action + Send + Sync + 'static,
) -> Log {
    let listener = UnixListener::bind(path).expect("bind test socket");
    let seen: Log = Arc::default();
    let script = Arc::new(script);
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            let script = script.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    // Read one request: head, then Content-Length bytes.
                    let head_end = loop {
                        if let Some(i) = find(&buf, b"\r\n\r\n") {
                            break i;
                        }
                        let mut chunk = [0u8; 4096];
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    while buf.len() < head_end + 4 + len {
                        let mut chunk = [0u8; 4096];
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body = buf[head_end + 4..head_end + 4 + len].to_vec();
                    buf.drain(..head_end + 4 + len);
                    let req = Seen { head, body };
                    let index = {
                        let mut l = log.lock().unwrap();
                        l.push(req.clone());
                        l.len() - 1
                    };
                    match script(index, &req) {
                        Action::Respond(bytes) => {
                            if stream.write_all(&bytes).await.is_err() {
                                return;
                            }
                        }
                        Action::Drop => return,
                        Action::Hang => std::future::pending::<()>().await,
                    }
                }
            });
        }
    });
    seen
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

use drydock_sdk::wire::volume::{CreateRequest, MountRequest, NameRequest, Volume};
use drydock_sdk::{PluginError, VolumeDriver};

/// A volume driver that knows every name: Get answers `/m/NAME`.
pub struct Echo;
impl VolumeDriver for Echo {
    async fn create(&self, _: CreateRequest) -> Result<(), PluginError> {
        Ok(())
    }
    async fn remove(&self, _: NameRequest) -> Result<(), PluginError> {
        Ok(())
    }
    async fn mount(&self, _: MountRequest) -> Result<String, PluginError> {
        Ok("/m".into())
    }
    async fn path(&self, _: NameRequest) -> Result<String, PluginError> {
        Ok("/m".into())
    }
    async fn unmount(&self, _: MountRequest) -> Result<(), PluginError> {
        Ok(())
    }
    async fn get(&self, r: NameRequest) -> Result<Volume, PluginError> {
        Ok(Volume {
            mountpoint: format!("/m/{}", r.name),
            name: r.name,
            ..Default::default()
        })
    }
    async fn list(&self) -> Result<Vec<Volume>, PluginError> {
        Ok(vec![])
    }
}
