//! Measures what the REST → gRPC hop costs inside one process: the same `ListModels` RPC called
//! (a) through the in-process transport the facade uses, (b) as REST `GET /v1/models` over
//! loopback HTTP/1.1 (facade + hop + service), (c) as gRPC over loopback HTTP/2. Sequential calls,
//! interleaved rounds, medians of the round medians. Run:
//! `cargo run --release -p caduceus-tests --example hop_latency`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use caduceus_proto::v1::ListModelsRequest;
use caduceus_proto::v1::discovery_service_client::DiscoveryServiceClient;
use caduceus_tests::app::{TEST_KEY, TestApp, authed};

const ROUNDS: usize = 7;
const CALLS: usize = 2_000;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let app = TestApp::spawn().await;
    let surface = caduceus_service::grpc::surface(&app.state).await.unwrap();
    let mut in_process =
        DiscoveryServiceClient::new(caduceus_rest::transport_from_service(surface.router));
    let mut over_h2 = DiscoveryServiceClient::new(app.channel().await);
    let http = reqwest::Client::builder().http1_only().build().unwrap();
    let url = app.url("/v1/models");

    let (mut hop, mut rest, mut grpc) = (Vec::new(), Vec::new(), Vec::new());
    let (mut hop_all, mut rest_all) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let mut round = Vec::with_capacity(CALLS);
        for _ in 0..CALLS {
            let start = Instant::now();
            in_process
                .list_models(authed(ListModelsRequest {}))
                .await
                .unwrap();
            round.push(start.elapsed());
        }
        hop_all.extend_from_slice(&round);
        hop.push(median(round));

        let mut round = Vec::with_capacity(CALLS);
        for _ in 0..CALLS {
            let start = Instant::now();
            let response = http.get(&url).bearer_auth(TEST_KEY).send().await.unwrap();
            response.bytes().await.unwrap();
            round.push(start.elapsed());
        }
        rest_all.extend_from_slice(&round);
        rest.push(median(round));

        let mut round = Vec::with_capacity(CALLS);
        for _ in 0..CALLS {
            let start = Instant::now();
            over_h2
                .list_models(authed(ListModelsRequest {}))
                .await
                .unwrap();
            round.push(start.elapsed());
        }
        grpc.push(median(round));
    }
    println!(
        "calls per path: {} ({ROUNDS} interleaved rounds)",
        ROUNDS * CALLS
    );
    println!(
        "in-process REST→gRPC hop (ListModels through the facade's transport): median {:?}, p99 {:?}",
        median(hop),
        percentile(&mut hop_all, 0.99)
    );
    println!(
        "REST GET /v1/models over loopback HTTP/1.1 (facade + hop + service): median {:?}, p99 {:?}",
        median(rest),
        percentile(&mut rest_all, 0.99)
    );
    println!(
        "gRPC ListModels over loopback HTTP/2: median {:?}",
        median(grpc)
    );
    app.stop().await;
}
