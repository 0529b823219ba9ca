//! The prover service's test helpers: a server on an ephemeral loopback port
//! inside the test (the library's `serve` on a bound listener), HTTP requests
//! with and without an API key, and checks of proof answers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::sync::oneshot;
use zkinfer::backend::registry::SelectedBackend;
use zkinfer::backend::CpuBackend;
use zkinfer::keys::cache::{KeyLocation, KeyParams, Setups};
use zkinfer::onnx::ImportOptions;
use zkinfer::proof::{self, ModelProof, WeightVisibility};
use zkinfer::service::{self, Service, ServiceConfig};

use super::root;

/// [`Service::load`] of `models` with committed weights (unless `config`
/// says otherwise per model), the test key cache and the CPU.
pub fn load(
    models: &[PathBuf],
    config: ServiceConfig,
) -> Result<Arc<Service>, service::ServiceError> {
    Service::load(
        models,
        &KeyParams {
            import: ImportOptions::default(),
            visibility: WeightVisibility::Committed,
        },
        &KeyLocation::Root(cache_dir().join("keys")),
        &mut Setups::new(cache_dir()),
        SelectedBackend::Cpu(CpuBackend::global()),
        config,
    )
}

/// Asks `model` for a proof-tier answer on its shipped input and decodes the
/// zero-knowledge proof file it carries: the answer's JSON and the proof bytes.
pub async fn prove_zk(addr: SocketAddr, model: &str) -> (Value, Vec<u8>) {
    let data = input_json(model)["input_data"].clone();
    let answer = post(
        addr,
        &format!("/v1/models/{model}/prove"),
        &json!({"input_data": data, "tier": "proof"}),
    )
    .await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let json = answer.json();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(json["proof"].as_str().unwrap())
        .unwrap();
    (json, bytes)
}

pub fn model_path(name: &str) -> PathBuf {
    root().join("models").join(name).join("network.onnx")
}

pub fn input_path(name: &str) -> PathBuf {
    root().join("models").join(name).join("input.json")
}

/// Setups and keys shared by these tests and the child `zkinfer` processes.
pub fn cache_dir() -> PathBuf {
    std::env::temp_dir().join("zkinfer-test-cache")
}

pub fn input_json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(input_path(name)).unwrap()).unwrap()
}

pub struct Server {
    pub addr: SocketAddr,
    pub service: Arc<Service>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    pub async fn start(config: ServiceConfig) -> Server {
        Server::start_with(vec![model_path("authorization")], config).await
    }

    pub async fn start_with(models: Vec<PathBuf>, config: ServiceConfig) -> Server {
        let service = tokio::task::spawn_blocking(move || load(&models, config).unwrap())
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(service::serve(listener, service.clone(), async move {
            let _ = stopped.await;
        }));
        Server {
            addr,
            service,
            stop: Some(stop),
            task,
        }
    }

    /// Signals shutdown and waits for `serve` to return.
    pub async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("serve returns after shutdown")
            .unwrap()
            .unwrap();
    }
}

pub struct Answer {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code: {}", String::from_utf8_lossy(&self.body)))
            .to_string()
    }
}

pub async fn request(addr: SocketAddr, method: &str, path: &str, body: Vec<u8>) -> Answer {
    request_as(addr, None, method, path, body).await
}

/// A request with `Authorization: Bearer KEY` when `key` is given.
pub async fn request_as(
    addr: SocketAddr,
    key: Option<&str>,
    method: &str,
    path: &str,
    body: Vec<u8>,
) -> Answer {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let bearer = key.map(|k| format!("Bearer {k}"));
    let headers: Vec<(&str, &str)> = bearer
        .iter()
        .map(|b| ("authorization", b.as_str()))
        .collect();
    exchange(
        TokioIo::new(stream),
        &addr.to_string(),
        method,
        path,
        body,
        &headers,
    )
    .await
    .unwrap()
}

/// One HTTP/1.1 request over `io` (a plain or TLS connection), or the
/// client's error when the exchange fails.
pub async fn exchange<IO>(
    io: IO,
    host: &str,
    method: &str,
    path: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> Result<Answer, hyper::Error>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(connection);
    let mut builder = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", host)
        .header("content-type", "application/json");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let response = sender
        .send_request(builder.body(Full::new(Bytes::from(body))).unwrap())
        .await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await?.to_bytes();
    Ok(Answer {
        status,
        headers,
        body: body.to_vec(),
    })
}

pub async fn post(addr: SocketAddr, path: &str, body: &Value) -> Answer {
    request(addr, "POST", path, serde_json::to_vec(body).unwrap()).await
}

pub async fn get(addr: SocketAddr, path: &str) -> Answer {
    request(addr, "GET", path, Vec::new()).await
}

/// A POST with an API key.
pub async fn post_as(addr: SocketAddr, key: &str, path: &str, body: &Value) -> Answer {
    request_as(
        addr,
        Some(key),
        "POST",
        path,
        serde_json::to_vec(body).unwrap(),
    )
    .await
}

/// A GET with an API key.
pub async fn get_as(addr: SocketAddr, key: &str, path: &str) -> Answer {
    request_as(addr, Some(key), "GET", path, Vec::new()).await
}

pub const PROVE: &str = "/v1/models/authorization/prove";

pub fn prove_body(tier: &str) -> Value {
    json!({"input_data": input_json("authorization")["input_data"], "tier": tier})
}

/// The model's quantized output on its shipped input, computed here.
pub fn expected_output(service: &Service) -> Vec<f32> {
    let model = &service.models().next().unwrap().pk.model;
    let values = zkinfer::quant::read_input_json(&input_path("authorization")).unwrap();
    let input = zkinfer::quant::quantize_input(&values, model.scale_bits);
    let witness = model.execute(&input).unwrap();
    zkinfer::quant::dequantize(&witness.values[model.outputs[0]], model.scale_bits)
}

pub fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// Decodes a proof answer and checks it against the service's verifying key.
pub fn check_proof(service: &Service, answer: &Answer, expected: &[f32]) -> Vec<u8> {
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let json = answer.json();
    assert_eq!(json["tier"], "proof");
    assert_eq!(floats(&json["output"]), expected);
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(json["proof"].as_str().unwrap())
        .unwrap();
    assert_eq!(json["proof_bytes"].as_u64().unwrap() as usize, bytes.len());
    let proof = ModelProof::from_bytes(&bytes).unwrap();
    let vk = &service.models().next().unwrap().pk.vk;
    proof::verify(vk, &proof.input, &proof).unwrap();
    bytes
}
