//! The VNF's control-socket reload request, as the sidecar sends it.
//!
//! Protocol (fixed): connect to the Unix socket, write one line of JSON
//! `{"command":"reload","json":false}` and a newline, read one line of JSON
//! `{"ok":true|false,"text":"..."}`.

use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// One request line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub command: String,
    pub json: bool,
}

/// One reply line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    #[serde(default)]
    pub text: String,
}

/// Why a reload request failed before the VNF could answer.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: malformed reply {line:?}: {message}", path.display())]
    Reply {
        path: std::path::PathBuf,
        line: String,
        message: String,
    },
}

/// The exact request line (with its newline) for `reload`.
pub fn reload_request_line() -> String {
    let req = Request {
        command: "reload".into(),
        json: false,
    };
    format!("{}\n", serde_json::to_string(&req).unwrap_or_default())
}

/// Sends `reload` to the VNF listening on `socket` and returns its reply.
pub fn request_reload(socket: &Path, timeout: Duration) -> Result<Reply, ControlError> {
    let io = |source| ControlError::Io {
        path: socket.to_owned(),
        source,
    };
    let mut s = UnixStream::connect(socket).map_err(io)?;
    s.set_read_timeout(Some(timeout)).map_err(io)?;
    s.set_write_timeout(Some(timeout)).map_err(io)?;
    s.write_all(reload_request_line().as_bytes()).map_err(io)?;
    s.flush().map_err(io)?;
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).map_err(io)?;
    serde_json::from_str(line.trim_end()).map_err(|e| ControlError::Reply {
        path: socket.to_owned(),
        line: line.clone(),
        message: e.to_string(),
    })
}
