//! A minimal blocking HTTP/1.1 client over a unix socket, writing exactly the
//! bytes dockerd's Go client writes (empty `Host:`, `Content-Length`), so the
//! tests control every byte and can stop between sending and reading.

use serde_json::Value;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// How long a reply may take before the test calls it a hang.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// One keep-alive connection.
pub struct Conn {
    write: UnixStream,
    read: BufReader<UnixStream>,
}

/// A complete reply.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "reply body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The error a dockerd would see: the `Err` (or IPAM `Error`) field if
    /// non-empty, or any non-200 status.
    pub fn error(&self) -> Option<String> {
        let v: Value = serde_json::from_slice(&self.body).unwrap_or(Value::Null);
        let text = ["Err", "Error"]
            .iter()
            .filter_map(|k| v.get(k).and_then(Value::as_str))
            .find(|s| !s.is_empty())
            .map(str::to_owned);
        match (self.status, text) {
            (200, text) => text,
            (status, Some(text)) => Some(format!("{status}: {text}")),
            (status, None) => Some(format!("{status} without Err")),
        }
    }
}

impl Conn {
    pub fn connect(path: &Path) -> io::Result<Conn> {
        let write = UnixStream::connect(path)?;
        write.set_read_timeout(Some(REPLY_TIMEOUT))?;
        let read = BufReader::new(write.try_clone()?);
        Ok(Conn { write, read })
    }

    /// Sends `POST /rpc` with `body`, as dockerd does; does not wait.
    pub fn send(&mut self, rpc: &str, body: &[u8]) -> io::Result<()> {
        let mut req = format!(
            "POST /{rpc} HTTP/1.1\r\nHost: \r\nUser-Agent: Go-http-client/1.1\r\n\
             Content-Length: {}\r\nAccept: application/vnd.docker.plugins.v1.2+json\r\n\
             Accept-Encoding: gzip\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        self.send_raw(&req)
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write.write_all(bytes)
    }

    /// Reads one reply. `Err` if the connection ended before a whole reply.
    pub fn recv(&mut self) -> io::Result<Reply> {
        let mut line = String::new();
        if self.read.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad status line {line:?}")))?;
        let mut length = None;
        loop {
            line.clear();
            if self.read.read_line(&mut line)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((k, v)) = header.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse::<usize>().ok();
                }
            }
        }
        let length = length.ok_or_else(|| io::Error::other("reply without Content-Length"))?;
        let mut body = vec![0; length];
        self.read.read_exact(&mut body)?;
        Ok(Reply { status, body })
    }

    pub fn call(&mut self, rpc: &str, body: &[u8]) -> io::Result<Reply> {
        self.send(rpc, body)?;
        self.recv()
    }
}
