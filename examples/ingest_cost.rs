//! CPU cost of the webhook ingestion pipeline alone (`server::ingest::ingest` and turning the
//! verified body into the stored payload), no HTTP and no database: a 24 KB `pull_request`
//! delivery (the kodiak `synchronize` fixture) arriving in 16 KB frames, as hyper hands them
//! over, signed with the second of two configured secrets (rotation). Prints µs per delivery.
//!
//! ```text
//! cargo run --example ingest_cost -- 20000
//! valgrind --tool=callgrind target/debug/examples/ingest_cost 2000   # instruction counts
//! ```

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue};
use http_body::Frame;
use sdl_gate::forge_name::ForgeName;
use sdl_gate::server::ingest;
use secrecy::SecretString;

/// A body delivered as a queue of frames.
struct Frames(VecDeque<Bytes>);

impl http_body::Body for Frames {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(20_000);
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/fixtures/github-webhooks/kodiak/pull_request/synchronize.json"
    );
    let payload = Bytes::from(std::fs::read(path)?);
    let secrets = vec![
        SecretString::from("previous-secret"),
        SecretString::from("current-secret"),
    ];
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("x-github-event", HeaderValue::from_static("pull_request"));
    headers.insert("x-github-delivery", HeaderValue::from_static("d-1"));
    headers.insert(
        "x-hub-signature-256",
        HeaderValue::from_str(&sdl_gate::server::signature::github_signature(
            "current-secret",
            &payload,
        ))?,
    );
    headers.insert("content-length", HeaderValue::from(payload.len()));
    let limits = ingest::Limits::new(ingest::MAX_BODY_BYTES, ingest::IN_FLIGHT_BYTES);
    let frames = || {
        let mut q = VecDeque::new();
        let mut at = 0;
        while at < payload.len() {
            let end = (at + 16 * 1024).min(payload.len());
            q.push_back(payload.slice(at..end));
            at = end;
        }
        Frames(q)
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut stored = 0usize;
    let started = Instant::now();
    rt.block_on(async {
        for _ in 0..n {
            let verified = ingest::ingest(
                ForgeName::GitHub,
                Some(&secrets),
                &headers,
                Body::new(frames()),
                &limits,
            )
            .await
            .map_err(|e| e.to_string())?;
            let stored_payload = verified.into_payload();
            stored += stored_payload.len();
        }
        Ok::<_, String>(())
    })?;
    let per = started.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!(
        "ingest of a {} B delivery in 16 KB frames, 2 secrets: {per:.1} µs per delivery ({n} runs, {} MB stored)",
        payload.len(),
        stored / 1_000_000
    );
    Ok(())
}
