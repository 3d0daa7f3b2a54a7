//! Sending cross-replica notices ([`crate::notify`]): PostgreSQL `NOTIFY` through
//! `pg_notify(channel, payload)`, either on its own or inside a write transaction (delivered at
//! commit, never for a rolled-back write). SQLite is single-process: both are no-ops there.

use sqlx::{Any, Transaction};

use super::{Backend, Store, StoreError};

const NOTIFY: &str = "SELECT pg_notify($1, $2)";

impl Store {
    /// Tells every replica (this one included) about `payload` on `channel`.
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        sqlx::query(NOTIFY)
            .bind(channel)
            .bind(payload)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Like [`Store::notify`], inside `tx`: sent only if and when it commits.
    pub(crate) async fn notify_in(
        &self,
        tx: &mut Transaction<'static, Any>,
        channel: &str,
        payload: &str,
    ) -> Result<(), StoreError> {
        if self.backend != Backend::Postgres {
            return Ok(());
        }
        sqlx::query(NOTIFY)
            .bind(channel)
            .bind(payload)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}
