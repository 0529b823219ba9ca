//! Criterion benches of the end-to-end prover on two shipped models, CPU backend:
//! `prove/cpu/authorization` and `prove/cpu/article_classification` (committed
//! weights). Import, the Dory setup and the keys are built once, outside the
//! timed loop; each iteration is one `proof::prove` call on the shipped input.

use std::path::Path;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use zkinfer::backend::CpuBackend;
use zkinfer::onnx::{self, ImportOptions};
use zkinfer::pcs::{setup::DEFAULT_SEED, DorySetup};
use zkinfer::proof::{self, ProvingKey, WeightVisibility};
use zkinfer::quant;

/// Keys and quantized input of a shipped model.
fn prepared(name: &str) -> (ProvingKey, Vec<i64>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(name);
    let imported = onnx::import(&dir.join("network.onnx"), &ImportOptions::default())
        .expect("shipped model imports");
    let input = quant::read_input_json(&dir.join("input.json")).expect("shipped input");
    let input = quant::quantize_input(&input, imported.model.scale_bits);
    let setup = DorySetup::load_or_derive(
        DEFAULT_SEED,
        proof::required_generators(&imported.model),
        &DorySetup::default_cache_dir(),
    )
    .expect("Dory setup");
    let pk = proof::preprocess(
        CpuBackend::global(),
        imported.model,
        WeightVisibility::Committed,
        Arc::new(setup),
    )
    .expect("keys");
    (pk, input)
}

fn prove_models(c: &mut Criterion) {
    let mut group = c.benchmark_group("prove");
    group.sample_size(10);
    for name in ["authorization", "article_classification"] {
        let (pk, input) = prepared(name);
        group.bench_function(format!("cpu/{name}"), |bench| {
            bench.iter(|| proof::prove(CpuBackend::global(), &pk, &input).expect("prove"))
        });
    }
    group.finish();
}

criterion_group!(benches, prove_models);
criterion_main!(benches);
