//! The AWS emulator for tests: moto in server mode (PyPI `moto[server]`, pinned in
//! `tools/moto/requirements.txt`) from the project's venv, started through
//! `tools/moto/serve.py` (moto's own server app, with DynamoDB calls serialized as real
//! DynamoDB serializes conflicting transactions) on a free loopback port, polled until it
//! answers, and stopped when the test process ends (a small watchdog kills it when its parent
//! is gone, since statics are never dropped).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

#[derive(Debug, Clone, thiserror::Error)]
pub enum HarnessError {
    #[error("cannot prepare the Python tools (scripts/python-env.sh): {0}")]
    Venv(String),
    #[error("cannot start moto_server: {0}")]
    Start(String),
    #[error("moto_server did not answer on {0} (see {1})")]
    NotReady(String, String),
    #[error("moto_server: {0}")]
    Request(String),
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The project's Python venv, created or refreshed by `scripts/python-env.sh`.
pub fn venv() -> Result<PathBuf, HarnessError> {
    static VENV: OnceLock<Result<PathBuf, HarnessError>> = OnceLock::new();
    VENV.get_or_init(|| {
        let out = Command::new("bash")
            .arg(workspace_root().join("scripts/python-env.sh"))
            .output()
            .map_err(|e| HarnessError::Venv(e.to_string()))?;
        if !out.status.success() {
            return Err(HarnessError::Venv(String::from_utf8_lossy(&out.stderr).into_owned()));
        }
        Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    })
    .clone()
}

/// Where the emulator's logs go: a folder of the system's temporary directory, so the tests
/// run wherever the build directory is (`CARGO_TARGET_DIR` outside the clone included).
pub fn log_dir() -> Result<PathBuf, HarnessError> {
    let dir = std::env::temp_dir().join("marketbill-test-logs");
    std::fs::create_dir_all(&dir).map_err(|e| HarnessError::Start(format!("{}: {e}", dir.display())))?;
    Ok(dir)
}

fn free_port() -> Result<u16, HarnessError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| HarnessError::Start(e.to_string()))?;
    l.local_addr().map(|a| a.port()).map_err(|e| HarnessError::Start(e.to_string()))
}

fn answers(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 12];
    s.read(&mut buf).map(|n| n >= 12 && &buf[9..12] == b"200").unwrap_or(false)
}

/// A running moto server.
pub struct Moto {
    pub endpoint: String,
    child: Child,
}

impl Moto {
    /// Starts a server of our own; it stops when dropped (or when the test process ends).
    pub fn start() -> Result<Moto, HarnessError> {
        let venv = venv()?;
        let port = free_port()?;
        let log = log_dir()?.join(format!("moto-{port}.log"));
        let python = venv.join("bin/python");
        let serve = workspace_root().join("tools/moto/serve.py");
        let script = format!(
            "\"{python}\" \"{serve}\" --host 127.0.0.1 --port {port} >\"{log}\" 2>&1 & m=$!; trap 'kill $m 2>/dev/null; exit 0' TERM; \
             while kill -0 {parent} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 1; done; kill $m 2>/dev/null",
            python = python.display(),
            serve = serve.display(),
            log = log.display(),
            parent = std::process::id()
        );
        let child = Command::new("bash")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| HarnessError::Start(e.to_string()))?;
        let moto = Moto { endpoint: format!("http://127.0.0.1:{port}"), child };
        // Poll until it answers, with a bound (about 30 s).
        for _ in 0..300 {
            if answers(port) {
                return Ok(moto);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(HarnessError::NotReady(moto.endpoint.clone(), log.display().to_string()))
    }

    /// One server shared by all tests of a test binary (each test uses its own table, bucket,
    /// queue and key).
    pub fn shared() -> Result<&'static Moto, HarnessError> {
        static SHARED: OnceLock<Result<Moto, HarnessError>> = OnceLock::new();
        SHARED.get_or_init(Moto::start).as_ref().map_err(Clone::clone)
    }

    /// The raw MIME of every mail SES was asked to send (`tools/moto/serve.py` reads them from
    /// SES's own list: moto's `/moto-api/data.json` would serialize every model of every service).
    pub async fn sent_raw_mails(&self) -> Result<Vec<Vec<u8>>, HarnessError> {
        let r = reqwest::get(format!("{}/_marketbill/ses/raw", self.endpoint))
            .await
            .map_err(|e| HarnessError::Request(e.to_string()))?;
        let mails: Vec<String> = r.json().await.map_err(|e| HarnessError::Request(e.to_string()))?;
        Ok(mails.into_iter().map(String::into_bytes).collect())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // SIGTERM lets the watchdog stop moto_server too (SIGKILL would orphan it).
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}
