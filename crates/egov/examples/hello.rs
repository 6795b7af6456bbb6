//! A bare axum hello-world on the same runtime settings as `egov serve`:
//! the ceiling that catalogue benchmarks are compared with in the same run.
//! Usage: `hello [ADDR]` (default 127.0.0.1:8099).

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:8099".to_owned());
    let router = axum::Router::new().route("/", axum::routing::get(|| async { "Hello, world!" }));
    let listener = tokio::net::TcpListener::bind(&address).await?;
    axum::serve(listener, router).await
}
