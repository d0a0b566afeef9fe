//! What every handler shares.

use crate::auth::{Auth, Authenticator};
use crate::error::{ApiError, ProblemKind};
use crate::telemetry::Metrics;
use actix_web::web;
use planledger_persistence::{Caller, Store, StoreError};

pub struct AppState {
    pub store: Store,
    pub authenticator: Authenticator,
    /// Whether public material is readable without a token.
    pub public_read: bool,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    pub metrics: Metrics,
    /// Wakes readers waiting for new events.
    pub notifier: crate::notifier::EventNotifier,
}

impl AppState {
    pub fn caller(&self, auth: Auth) -> Caller {
        Caller::request(auth.0, self.public_read)
    }

    /// Runs blocking store work on the blocking pool, never on the async workers.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = self.store.clone();
        web::block(move || work(&store))
            .await
            .map_err(|_| ApiError::new(ProblemKind::ServiceUnavailable, "the server is shutting down"))?
            .map_err(ApiError::from)
    }
}
