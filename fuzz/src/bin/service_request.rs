//! The prover service's request bodies, through its real router (axum, the
//! same middleware, body limit and handlers as `zkinfer serve`) serving the
//! shipped `perceptron` model. The first input byte picks the route (even:
//! `POST /v1/verify`, odd: `POST /v1/models/perceptron/prove`); the rest is the
//! body. The service is put in shutdown first, so a valid proof-tier request
//! is parsed and checked but answered `shutting_down` instead of proved (the
//! inference tier and verification still run). A 5xx answer other than that,
//! or a body that is not JSON, is a bug.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use zkinfer::backend::registry::SelectedBackend;
use zkinfer::backend::CpuBackend;
use zkinfer::proof::WeightVisibility;
use zkinfer::service::{self, ServedModel, Service, ServiceConfig};
use zkinfer_fuzz::prepared;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let p = prepared("perceptron", WeightVisibility::Committed);
        let model = ServedModel::from_prepared(p);
        let config = ServiceConfig {
            workers: 1,
            queue: 1,
            timeout: Duration::from_secs(30),
            max_body: 1 << 20,
            ..ServiceConfig::default()
        };
        let service: Arc<Service> = Service::new(
            vec![model],
            SelectedBackend::Cpu(CpuBackend::global()),
            config,
        )
        .expect("start the service");
        service.begin_shutdown();
        Fixture {
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime"),
            router: service::router(service),
        }
    })
}

fn main() {
    afl::fuzz!(|data: &[u8]| {
        let Some((&route, body)) = data.split_first() else {
            return;
        };
        let uri = if route % 2 == 0 {
            "/v1/verify"
        } else {
            "/v1/models/perceptron/prove"
        };
        let f = fixture();
        let request = Request::post(uri)
            .header("content-type", "application/json")
            .body(Body::from(body.to_vec()))
            .expect("a request");
        let (status, bytes) = f.runtime.block_on(async {
            let response = f.router.clone().oneshot(request).await.expect("infallible");
            let status = response.status();
            let bytes = response
                .into_body()
                .collect()
                .await
                .expect("a response body")
                .to_bytes();
            (status, bytes)
        });
        let json: serde_json::Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("status {status}: the answer is not JSON: {e}"));
        if status.is_server_error() {
            let code = json["error"]["code"].as_str().unwrap_or_default();
            assert!(
                status == StatusCode::SERVICE_UNAVAILABLE && code == "shutting_down",
                "status {status}: {json}"
            );
        }
    });
}
