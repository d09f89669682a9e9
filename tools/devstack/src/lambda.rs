//! A function's real binary run as Lambda runs it: its own process, started cold with the
//! environment Lambda gives it (its template variables, its own principal's keys, the
//! `AWS_LAMBDA_*` variables) and fed through a local Lambda Runtime API, so `lambda_runtime`'s
//! own code path runs too. As in Lambda:
//! - one invocation at a time per process; the process lives on between invocations (warm) and
//!   a new one starts after a failure (cold, its init time measured);
//! - at the function's `Timeout` the process is killed with SIGKILL, and so it is when its
//!   resident memory passes `MemorySize` (read from `/proc`, every few milliseconds);
//! - a process that exits or crashes fails its invocation.
//!
//! [`KillSwitch`] lets a test kill the process at a moment of its choosing (sudden death).

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

/// How often resident memory is read against `MemorySize`.
const MEMORY_POLL: Duration = Duration::from_millis(20);

/// What a function process is given.
#[derive(Debug, Clone)]
pub struct LambdaSpec {
    /// The function's name (`AWS_LAMBDA_FUNCTION_NAME`), e.g. its logical id.
    pub name: String,
    /// Its `bootstrap` binary.
    pub binary: PathBuf,
    /// Arguments (none for a function: Lambda passes none).
    pub args: Vec<String>,
    /// Its environment: the template's variables, the AWS endpoint, region and keys. Nothing
    /// else of this process's environment is passed on.
    pub env: BTreeMap<String, String>,
    /// `Timeout`.
    pub timeout: Duration,
    /// `MemorySize`, MB.
    pub memory_mb: u64,
    /// Where its output goes (appended), or nowhere.
    pub log: Option<PathBuf>,
}

/// How one invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The handler answered.
    Response(serde_json::Value),
    /// The handler returned an error (`/invocation/{id}/error`).
    FunctionError(serde_json::Value),
    /// Killed at `Timeout`.
    Timeout,
    /// Killed for passing `MemorySize` (resident memory, kB).
    OutOfMemory(u64),
    /// Killed through its [`KillSwitch`].
    Killed,
    /// The process exited (a panic, `init` failing) without answering.
    Crashed(String),
}

/// One invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// How it ended.
    pub outcome: Outcome,
    /// From the event's hand-over to its end.
    pub duration: Duration,
    /// The init time (process start to its first request for an event) when this invocation
    /// started a new process.
    pub cold_start: Option<Duration>,
    /// Peak resident memory of the process so far (`VmHWM`, kB).
    pub peak_rss_kb: u64,
}

/// What the function's invocations came to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LambdaStats {
    /// Invocations handed to the function.
    pub started: u64,
    /// Invocations ended (answered or not): `started - invocations` are running now.
    pub invocations: u64,
    /// Processes started.
    pub cold_starts: u64,
    /// Killed at `Timeout`.
    pub timeouts: u64,
    /// Killed for memory.
    pub out_of_memory: u64,
    /// Killed through the switch.
    pub killed: u64,
    /// Exited without answering.
    pub crashed: u64,
    /// The highest peak resident memory of any process, kB.
    pub peak_rss_kb: u64,
}

/// Kills the function's process now (it fails its invocation, and the next one starts cold).
#[derive(Clone, Default)]
pub struct KillSwitch(Arc<Notify>);

impl KillSwitch {
    /// SIGKILL, as sudden death.
    pub fn kill(&self) {
        self.0.notify_one();
    }
}

enum Answer {
    Response(Bytes),
    Error(Bytes),
}

struct Pending {
    id: String,
    payload: Bytes,
    deadline_ms: u128,
}

#[derive(Default)]
struct RuntimeState {
    next: Mutex<Option<Pending>>,
    ready: Notify,
    answers: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    /// When the current process first asked for an event.
    first_poll: Mutex<Option<Instant>>,
    function_arn: String,
}

/// The local Lambda Runtime API (`/2018-06-01/runtime/...`).
struct RuntimeApi {
    addr: std::net::SocketAddr,
    state: Arc<RuntimeState>,
    task: tokio::task::JoinHandle<()>,
}

fn reply(status: u16, body: Bytes) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(body));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response
}

async fn serve(state: Arc<RuntimeState>, req: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let parts: Vec<&str> = path.trim_start_matches("/2018-06-01/runtime/").split('/').collect();
    match (req.method().as_str(), parts.as_slice()) {
        ("GET", ["invocation", "next"]) => {
            state.first_poll.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(Instant::now);
            loop {
                let ready = state.ready.notified();
                if let Some(p) = state.next.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    let mut response = reply(200, p.payload);
                    let headers = response.headers_mut();
                    let mut set = |name: &'static str, value: String| {
                        if let Ok(value) = hyper::header::HeaderValue::from_str(&value) {
                            headers.insert(name, value);
                        }
                    };
                    set("lambda-runtime-aws-request-id", p.id);
                    set("lambda-runtime-deadline-ms", p.deadline_ms.to_string());
                    set("lambda-runtime-invoked-function-arn", state.function_arn.clone());
                    set("lambda-runtime-trace-id", format!("Root=1-{:x}-local", p.deadline_ms));
                    return response;
                }
                ready.await;
            }
        }
        ("POST", ["invocation", id, kind @ ("response" | "error")]) => {
            let body = req.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
            let sender = state.answers.lock().unwrap_or_else(|e| e.into_inner()).remove(*id);
            let Some(sender) = sender else {
                return reply(400, Bytes::from_static(b"{\"errorType\":\"InvalidRequestID\"}"));
            };
            let _ = sender.send(if *kind == "response" { Answer::Response(body) } else { Answer::Error(body) });
            reply(202, Bytes::from_static(b"{\"status\":\"OK\"}"))
        }
        ("POST", ["init", "error"]) => {
            let body = req.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
            tracing::warn!(error = %String::from_utf8_lossy(&body), "function init failed");
            reply(202, Bytes::from_static(b"{\"status\":\"OK\"}"))
        }
        _ => reply(404, Bytes::from_static(b"{\"errorType\":\"NotFound\"}")),
    }
}

impl RuntimeApi {
    async fn start(function_arn: String) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(RuntimeState { function_arn, ..RuntimeState::default() });
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(serve(state, req).await) }
                    });
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
        Ok(Self { addr, state, task })
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A `/proc/<pid>/status` figure in kB (`VmRSS`, `VmHWM`).
fn proc_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

struct Running {
    child: Child,
    pid: u32,
    started: Instant,
    initialised: bool,
}

/// A function run as its own process behind a local Runtime API.
pub struct LocalLambda {
    spec: LambdaSpec,
    api: RuntimeApi,
    process: tokio::sync::Mutex<Option<Running>>,
    switch: KillSwitch,
    stats: Mutex<LambdaStats>,
}

impl LocalLambda {
    /// Serves a Runtime API for `spec`'s function; its process starts at the first invocation.
    pub async fn start(spec: LambdaSpec) -> std::io::Result<Self> {
        let arn = format!("arn:aws:lambda:{}:{}:function:{}", crate::iam::REGION, crate::iam::ACCOUNT_ID, spec.name);
        let api = RuntimeApi::start(arn).await?;
        Ok(Self {
            spec,
            api,
            process: tokio::sync::Mutex::new(None),
            switch: KillSwitch::default(),
            stats: Mutex::new(LambdaStats::default()),
        })
    }

    /// The function's timeout.
    pub fn timeout(&self) -> Duration {
        self.spec.timeout
    }

    /// The switch that kills the process now.
    pub fn kill_switch(&self) -> KillSwitch {
        self.switch.clone()
    }

    /// What the invocations so far came to.
    pub fn stats(&self) -> LambdaStats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn spawn(&self) -> std::io::Result<Running> {
        let mut command = Command::new(&self.spec.binary);
        command
            .args(&self.spec.args)
            .env_clear()
            .envs(&self.spec.env)
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("LANG", "en_US.UTF-8")
            .env("TZ", ":UTC")
            .env("AWS_LAMBDA_RUNTIME_API", self.api.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &self.spec.name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", self.spec.memory_mb.to_string())
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", self.spec.name))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand")
            .env("_HANDLER", "bootstrap")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        match &self.spec.log {
            Some(path) => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
                command.stdout(file.try_clone()?).stderr(file);
            }
            None => {
                command.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let child = command.spawn()?;
        let pid = child.id().unwrap_or_default();
        *self.api.state.first_poll.lock().unwrap_or_else(|e| e.into_inner()) = None;
        Ok(Running { child, pid, started: Instant::now(), initialised: false })
    }

    fn count(&self, update: impl FnOnce(&mut LambdaStats)) {
        update(&mut self.stats.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Invokes the function with `payload`, as Lambda would (see the module documentation).
    pub async fn invoke(&self, payload: &serde_json::Value) -> std::io::Result<Invocation> {
        let mut process = self.process.lock().await;
        if let Some(running) = process.as_mut()
            && running.child.try_wait()?.is_some()
        {
            *process = None;
        }
        if process.is_none() {
            *process = Some(self.spawn()?);
            self.count(|s| s.cold_starts += 1);
        }
        let Some(running) = process.as_mut() else { unreachable!("started above") };
        self.count(|s| s.started += 1);
        let id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        self.api.state.answers.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), tx);
        let deadline = SystemTime::now() + self.spec.timeout;
        let deadline_ms = deadline.duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default();
        let body = Bytes::from(serde_json::to_vec(payload).map_err(std::io::Error::other)?);
        *self.api.state.next.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Pending { id: id.clone(), payload: body, deadline_ms });
        self.api.state.ready.notify_waiters();
        let handed = Instant::now();
        let limit_kb = self.spec.memory_mb * 1024;
        let pid = running.pid;
        let memory = async move {
            loop {
                tokio::time::sleep(MEMORY_POLL).await;
                if let Some(rss) = proc_kb(pid, "VmRSS:").filter(|rss| *rss > limit_kb) {
                    return rss;
                }
            }
        };
        let outcome = tokio::select! {
            answer = rx => match answer {
                Ok(Answer::Response(body)) => Outcome::Response(serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null)),
                Ok(Answer::Error(body)) => Outcome::FunctionError(serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null)),
                Err(_) => Outcome::Crashed("the runtime API dropped the invocation".into()),
            },
            _ = tokio::time::sleep(self.spec.timeout) => Outcome::Timeout,
            rss = memory => Outcome::OutOfMemory(rss),
            _ = self.switch.0.notified() => Outcome::Killed,
            status = running.child.wait() => Outcome::Crashed(format!("exited: {}", status.map_or_else(|e| e.to_string(), |s| s.to_string()))),
        };
        let duration = handed.elapsed();
        let cold_start = (!running.initialised)
            .then(|| *self.api.state.first_poll.lock().unwrap_or_else(|e| e.into_inner()))
            .flatten()
            .map(|polled| polled.saturating_duration_since(running.started));
        running.initialised = true;
        let peak_rss_kb = proc_kb(pid, "VmHWM:").unwrap_or_default();
        self.api.state.answers.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        let dies = !matches!(outcome, Outcome::Response(_) | Outcome::FunctionError(_));
        if dies {
            // Sudden death: SIGKILL, and the next invocation starts a new process.
            let _ = running.child.start_kill();
            let _ = running.child.wait().await;
            *process = None;
            self.api.state.next.lock().unwrap_or_else(|e| e.into_inner()).take();
        }
        self.count(|s| {
            s.invocations += 1;
            s.peak_rss_kb = s.peak_rss_kb.max(peak_rss_kb);
            match outcome {
                Outcome::Timeout => s.timeouts += 1,
                Outcome::OutOfMemory(_) => s.out_of_memory += 1,
                Outcome::Killed => s.killed += 1,
                Outcome::Crashed(_) => s.crashed += 1,
                _ => {}
            }
        });
        Ok(Invocation { outcome, duration, cold_start, peak_rss_kb })
    }
}

#[async_trait::async_trait]
impl crate::runner::SqsTarget for LocalLambda {
    async fn invoke(
        &self,
        event: aws_lambda_events::event::sqs::SqsEvent,
        _deadline: SystemTime,
    ) -> Option<aws_lambda_events::event::sqs::SqsBatchResponse> {
        let payload = serde_json::to_value(&event).ok()?;
        let invocation = match LocalLambda::invoke(self, &payload).await {
            Ok(invocation) => invocation,
            Err(e) => {
                tracing::error!(error = %e, function = %self.spec.name, "the function could not be started");
                return None;
            }
        };
        match invocation.outcome {
            Outcome::Response(body) => serde_json::from_value(body).ok(),
            other => {
                tracing::warn!(function = %self.spec.name, outcome = ?other, "invocation failed");
                None
            }
        }
    }
}
