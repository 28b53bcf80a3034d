//! Docker does not tell its network drivers the names of networks and containers; underlay
//! asks Docker's API for them afterwards (`GET /networks/ID`), so `underlay network ls` and
//! `inspect` show `pub_net` and the container's name instead of ids. Best effort: without
//! access to Docker's socket, networks keep the name `docker-<id12>`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use engine::Engine;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::api::Followup;

/// Where Docker's API is.
#[derive(Clone, Debug)]
pub struct DockerApi {
    socket: PathBuf,
}

impl DockerApi {
    /// From `unix:///var/run/docker.sock` or a plain path; `None` for other schemes.
    pub fn new(host: &str) -> Option<Self> {
        let path = host.strip_prefix("unix://").unwrap_or(host);
        path.starts_with('/').then(|| DockerApi {
            socket: PathBuf::from(path),
        })
    }

    /// `GET path` as JSON; `Ok(None)` for 404.
    pub(crate) async fn get(&self, path: &str) -> Result<Option<Value>, String> {
        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|e| format!("cannot reach Docker at {}: {e}", self.socket.display()))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        let req = hyper::Request::get(path)
            .header(hyper::header::HOST, "docker")
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        if status == hyper::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(format!(
                "Docker answered {status} to GET {path}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| format!("Docker's answer to GET {path} is not JSON: {e}"))
    }
}

/// Learn the names a followup asks for, retrying while Docker finishes the operation that
/// caused it (a network is in Docker's API only after CreateNetwork returned; an endpoint
/// only after Join).
pub async fn learn(engine: Arc<Engine>, api: DockerApi, followup: Followup) {
    let network = match &followup {
        Followup::NameNetwork(n) => n.clone(),
        Followup::NameEndpoint { network, .. } => network.clone(),
    };
    for attempt in 0..50u32 {
        tokio::time::sleep(Duration::from_millis(if attempt == 0 { 20 } else { 200 })).await;
        let info = match api.get(&format!("/networks/{network}")).await {
            Ok(Some(v)) => v,
            Ok(None) => continue,
            Err(e) => {
                tracing::debug!("no names from Docker: {e}");
                return;
            }
        };
        let done = match &followup {
            Followup::NameNetwork(id) => {
                let Some(name) = info.get("Name").and_then(Value::as_str) else {
                    continue;
                };
                let ipam = info
                    .pointer("/IPAM/Driver")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                let (id, name) = (id.clone(), name.to_string());
                let e = engine.clone();
                let r = tokio::task::spawn_blocking(move || {
                    e.name_runtime_network(&id, &name, ipam.as_deref())
                })
                .await;
                if let Ok(Err(err)) = r {
                    tracing::warn!(network = %network, "keeping underlay's name for Docker's network: {err}");
                }
                true
            }
            Followup::NameEndpoint { endpoint, .. } => {
                let containers = info.get("Containers").and_then(Value::as_object);
                let found = containers.into_iter().flatten().find_map(|(cid, c)| {
                    (c.get("EndpointID").and_then(Value::as_str) == Some(endpoint))
                        .then(|| c.get("Name").and_then(Value::as_str))
                        .flatten()
                        .map(|name| (cid.clone(), name.to_string()))
                });
                match found {
                    Some((cid, name)) => {
                        let (e, n, ep) = (engine.clone(), network.clone(), endpoint.clone());
                        let _ = tokio::task::spawn_blocking(move || {
                            e.name_endpoint(&n, &ep, &cid, &name)
                        })
                        .await;
                        true
                    }
                    None => false,
                }
            }
        };
        if done {
            return;
        }
    }
}
