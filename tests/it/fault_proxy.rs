//! A fault-injecting HTTP/1.1 proxy for tests (never part of the product): in front of a real
//! `tenantsync serve`, it answers a share of requests itself with 503 or 429 (with Retry-After),
//! or forwards them and then drops the connection instead of answering, so the caller cannot
//! tell whether a create happened.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Counters of what the proxy did.
#[derive(Default)]
pub struct FaultStats {
    pub forwarded: AtomicU64,
    pub refused: AtomicU64,
    pub dropped: AtomicU64,
}

/// A running proxy.
pub struct FaultProxy {
    pub addr: SocketAddr,
    pub stats: Arc<FaultStats>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one HTTP message (headers + Content-Length body). `None` at EOF.
async fn read_message(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            let total = end + 4 + length;
            while buf.len() < total {
                let mut chunk = [0u8; 8192];
                let n = stream.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let message = buf[..total].to_vec();
            buf.drain(..total);
            return Some(message);
        }
        let mut chunk = [0u8; 8192];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Makes the forwarded request close its upstream connection after the answer.
fn with_connection_close(request: &[u8]) -> Vec<u8> {
    let end = request.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&request[..end]);
    let mut out: Vec<String> = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(str::to_owned)
        .collect();
    out.push("Connection: close".to_owned());
    let mut bytes = out.join("\r\n").into_bytes();
    bytes.extend_from_slice(b"\r\n\r\n");
    bytes.extend_from_slice(&request[end + 4..]);
    bytes
}

async fn serve_connection(
    mut client: TcpStream,
    upstream: SocketAddr,
    fault_percent: u64,
    hide_healthz: bool,
    stats: Arc<FaultStats>,
    seed: Arc<AtomicU64>,
) {
    let mut buf = Vec::new();
    while let Some(request) = read_message(&mut client, &mut buf).await {
        // A small deterministic generator: reproducible fault sequences per proxy.
        let roll = {
            let mut x = seed.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
            x ^= x >> 33;
            x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
            x ^= x >> 33;
            x % 100
        };
        let start = String::from_utf8_lossy(&request[..request.len().min(64)]).into_owned();
        if hide_healthz && start.starts_with("GET /healthz") {
            // Look like a target that does not deduplicate creates (upstream), so callers must
            // never re-send a POST and must resolve interrupted creates by name.
            let _ = client
                .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                .await;
            continue;
        }
        let is_token = start.contains("/oidc/token");
        if roll < fault_percent && !is_token {
            match roll % 3 {
                0 | 1 => {
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                    let (status, retry_after) = if roll % 3 == 0 {
                        ("503 Service Unavailable", 0)
                    } else {
                        ("429 Too Many Requests", 1)
                    };
                    let body = format!(
                        "{{\"message\":\"injected fault\",\"error_code\":{}}}",
                        &status[..3]
                    );
                    let response = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nretry-after: {retry_after}\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = client.write_all(response.as_bytes()).await;
                    continue;
                }
                _ => {
                    // Forward, let the server act, then hang up without an answer.
                    if let Ok(mut up) = TcpStream::connect(upstream).await {
                        let _ = up.write_all(&with_connection_close(&request)).await;
                        let mut sink = Vec::new();
                        let _ = up.read_to_end(&mut sink).await;
                    }
                    stats.dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
        let Ok(mut up) = TcpStream::connect(upstream).await else {
            return;
        };
        if up
            .write_all(&with_connection_close(&request))
            .await
            .is_err()
        {
            return;
        }
        let mut response = Vec::new();
        if up.read_to_end(&mut response).await.is_err() {
            return;
        }
        stats.forwarded.fetch_add(1, Ordering::Relaxed);
        if client.write_all(&response).await.is_err() {
            return;
        }
        // The upstream closed after one answer; tell the client the same way, once the answer
        // is written, so it opens a new connection for the next request.
        let keep_alive = !String::from_utf8_lossy(&response)
            .to_ascii_lowercase()
            .contains("connection: close");
        if !keep_alive {
            return;
        }
    }
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1:0 in front of `upstream`, faulting `fault_percent`% of requests
    /// (the token endpoint is left alone).
    pub async fn start(upstream: SocketAddr, fault_percent: u64) -> FaultProxy {
        Self::start_with(upstream, fault_percent, false).await
    }

    /// As [`Self::start`]; with `hide_healthz` the target looks like one that does not
    /// deduplicate by `Idempotency-Key`.
    pub async fn start_with(
        upstream: SocketAddr,
        fault_percent: u64,
        hide_healthz: bool,
    ) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(FaultStats::default());
        let seed = Arc::new(AtomicU64::new(42));
        let task_stats = stats.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve_connection(
                    client,
                    upstream,
                    fault_percent,
                    hide_healthz,
                    task_stats.clone(),
                    seed.clone(),
                ));
            }
        });
        FaultProxy { addr, stats, task }
    }
}
