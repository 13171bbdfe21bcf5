//! The ceiling for any JSON service on this machine, for `benches/http/`:
//! one axum handler that reads a case exactly as `POST /v1/triage` does
//! for a well-formed case (UTF-8 check, then `Case::from_json` in one
//! pass) and answers a JSON body of a given size, with no rules, middleware
//! or metrics.
//!
//! `cargo run --release -p triage-http --example bare_json -- ADDR BYTES`

use axum::Router;
use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8081".into());
    let reply_bytes: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(2048);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let app = Router::new().route("/v1/triage", post(move |body: Bytes| async move { handle(&body, reply_bytes) }));
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        eprintln!("bare_json: serving on http://{}", listener.local_addr()?);
        axum::serve(listener, app).await
    })
}

fn handle(body: &[u8], reply_bytes: usize) -> axum::response::Response {
    let parsed = std::str::from_utf8(body).ok().and_then(|text| triage_core::Case::from_json(text).ok());
    let Some(case) = parsed else {
        return (StatusCode::BAD_REQUEST, "not a case").into_response();
    };
    // `{"id":"…","padding":"xxx…"}` padded to the size of triage's answer.
    let skeleton = serde_json::json!({ "id": case.id, "padding": "" }).to_string();
    let padding = "x".repeat(reply_bytes.saturating_sub(skeleton.len()));
    let reply = serde_json::to_vec(&serde_json::json!({ "id": case.id, "padding": padding })).unwrap_or_default();
    ([(header::CONTENT_TYPE, "application/json")], reply).into_response()
}
