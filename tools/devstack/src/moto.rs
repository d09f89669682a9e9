//! A moto server child process on a free loopback port, with IAM enforced after the admin
//! bootstrap ([`crate::iam`]), stopped when dropped.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// Why moto could not be started.
#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    /// The executable is missing.
    #[error("moto_server not found at {0}; run `make venv` (or set MOTO_SERVER)")]
    NotFound(PathBuf),
    /// Spawning or waiting failed.
    #[error("moto_server failed: {0}")]
    Io(#[from] std::io::Error),
    /// It did not answer in time.
    #[error("moto_server did not become ready on {0}")]
    NotReady(String),
    /// The admin principal could not be created.
    #[error(transparent)]
    Iam(#[from] crate::iam::IamError),
}

/// A running moto server.
pub struct MotoServer {
    child: Child,
    endpoint: String,
    admin: crate::iam::Principal,
}

/// Where the moto executable is: `MOTO_SERVER`, else the project venv.
pub fn default_binary() -> PathBuf {
    std::env::var_os("MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::repo_root().join(".venv/bin/moto_server"))
}

/// A port that was free a moment ago.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?.port())
}

impl MotoServer {
    /// Starts `binary` on a free loopback port and waits until it answers.
    pub async fn start(binary: &Path) -> Result<Self, MotoError> {
        if !binary.exists() {
            return Err(MotoError::NotFound(binary.to_path_buf()));
        }
        let port = free_port()?;
        let child = Command::new(binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", crate::iam::BOOTSTRAP_ACTIONS.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut ready = false;
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if !ready {
            return Err(MotoError::NotReady(endpoint));
        }
        let admin = crate::iam::bootstrap_admin(&endpoint).await?;
        Ok(Self { child, endpoint, admin })
    }

    /// The admin principal (setup and inspection only).
    pub fn admin(&self) -> &crate::iam::Principal {
        &self.admin
    }

    /// The endpoint URL (`http://127.0.0.1:PORT`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Stops the server and waits for it to exit.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
