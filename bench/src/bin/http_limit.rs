//! The HTTP limit: actix-web answering a fixed JSON body, with nothing else to do.
//! `http_limit [ADDRESS]` (default 127.0.0.1:18090).

use actix_web::{get, App, HttpResponse, HttpServer};

const BODY: &str = r#"{"id":"00000000-0000-0000-0000-000000000000","status":"adopted","title":"Fast svar"}"#;

#[get("/")]
async fn fixed() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(BODY)
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let address = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:18090".to_owned());
    HttpServer::new(|| App::new().service(fixed)).bind(address)?.run().await
}
