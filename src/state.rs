//! What every request handler and resolver shares.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::jwt::JwtKeys;
use crate::auth::RevokedSessions;
use crate::config::Settings;
use crate::db::DbMetrics;
use crate::events::EventBus;
use crate::graphql::fanout::Fanout;
use crate::services::password::LoginThrottle;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub db_metrics: Arc<DbMetrics>,
    pub settings: Arc<Settings>,
    pub jwt: Arc<JwtKeys>,
    /// Live events: services publish after they commit, subscriptions listen.
    pub events: Arc<dyn EventBus>,
    /// Subscription streams shared by subscribers of the same operation
    /// (`graphql::fanout`).
    pub fanout: Arc<Fanout>,
    /// Failed sign-ins per login name (see `services::password::LoginThrottle`).
    pub login_throttle: Arc<LoginThrottle>,
    /// Access tokens revoked before their expiry (see `auth::revocations`).
    pub revoked: Arc<RevokedSessions>,
}
