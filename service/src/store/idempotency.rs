//! The `idempotency_keys` table: claiming a key (`in_flight`, with a renewable lease), finishing
//! it with the encoded answer (`done`), releasing a failed claim, taking over an abandoned one,
//! and purging expired rows. The protocol built on these (waiting, replaying, conflicts) lives in
//! `crate::idempotency`; payloads are opaque bytes here.

use sqlx::Row;

use super::responses::unhex;
use super::{Store, StoreError, now};

/// Identifies one idempotency record.
#[derive(Debug, Clone, Copy)]
pub struct IdemKey<'a> {
    /// Fingerprint of the caller's API key.
    pub scope: &'a str,
    /// The operation.
    pub route: &'a str,
    /// The client's `Idempotency-Key`.
    pub key: &'a str,
}

/// A stored record as a waiter sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct IdemRecord {
    /// Hex SHA-256 of the canonical request that claimed the key.
    pub fingerprint: String,
    /// `true` once the answer is stored.
    pub done: bool,
    /// Token of the claiming request.
    pub owner: String,
    /// Float Unix seconds until which the owner's claim holds.
    pub lease_until: f64,
    /// Float Unix seconds after which the record is void.
    pub expires_at: f64,
    /// The encoded answer (when done).
    pub response: Option<Vec<u8>>,
    /// The answer's metadata as a JSON object (when done).
    pub metadata: Option<String>,
}

impl Store {
    /// Claims `key` for `owner` unless a record exists. `true` when this call claimed it.
    pub async fn claim_idempotency_key(
        &self,
        id: IdemKey<'_>,
        fingerprint: &str,
        owner: &str,
        lease_until: f64,
        expires_at: f64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO idempotency_keys (scope, route, idem_key, fingerprint, state, owner, \
             lease_until, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, 'in_flight', $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(id.scope)
        .bind(id.route)
        .bind(id.key)
        .bind(fingerprint)
        .bind(owner)
        .bind(lease_until)
        .bind(now())
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The record for `key`, or `None`.
    pub async fn get_idempotency_key(
        &self,
        id: IdemKey<'_>,
    ) -> Result<Option<IdemRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT fingerprint, state, owner, lease_until, expires_at, response, metadata \
             FROM idempotency_keys WHERE scope = $1 AND route = $2 AND idem_key = $3",
        )
        .bind(id.scope)
        .bind(id.route)
        .bind(id.key)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let state: String = row.try_get("state")?;
        let response: Option<String> = row.try_get("response")?;
        Ok(Some(IdemRecord {
            fingerprint: row.try_get("fingerprint")?,
            done: state == "done",
            owner: row.try_get("owner")?,
            lease_until: row.try_get("lease_until")?,
            expires_at: row.try_get("expires_at")?,
            response: response.map(unhex).transpose()?,
            metadata: row.try_get("metadata")?,
        }))
    }

    /// Extends the owner's lease. `false` if the claim is no longer this owner's.
    pub async fn renew_idempotency_lease(
        &self,
        id: IdemKey<'_>,
        owner: &str,
        lease_until: f64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE idempotency_keys SET lease_until = $5 WHERE scope = $1 AND route = $2 \
             AND idem_key = $3 AND owner = $4 AND state = 'in_flight'",
        )
        .bind(id.scope)
        .bind(id.route)
        .bind(id.key)
        .bind(owner)
        .bind(lease_until)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Stores the owner's answer and marks the record done until `expires_at`. `false` if the
    /// claim was taken over meanwhile.
    pub async fn finish_idempotency_key(
        &self,
        id: IdemKey<'_>,
        owner: &str,
        response: &[u8],
        metadata: &str,
        expires_at: f64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE idempotency_keys SET state = 'done', response = $5, metadata = $6, \
             expires_at = $7 WHERE scope = $1 AND route = $2 AND idem_key = $3 AND owner = $4",
        )
        .bind(id.scope)
        .bind(id.route)
        .bind(id.key)
        .bind(owner)
        .bind(hex::encode(response))
        .bind(metadata)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes the record if `owner` still holds it (a failed request frees its key).
    pub async fn release_idempotency_key(
        &self,
        id: IdemKey<'_>,
        owner: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "DELETE FROM idempotency_keys WHERE scope = $1 AND route = $2 AND idem_key = $3 \
             AND owner = $4 AND state = 'in_flight'",
        )
        .bind(id.scope)
        .bind(id.route)
        .bind(id.key)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes the record if it is still exactly what the caller saw as void: an in-flight claim
    /// of `owner` whose lease ended, or a record past its expiry. Lets the next claim proceed.
    pub async fn discard_void_idempotency_key(
        &self,
        id: IdemKey<'_>,
        owner: &str,
        at: f64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "DELETE FROM idempotency_keys WHERE scope = $1 AND route = $2 AND idem_key = $3 \
             AND owner = $4 AND (expires_at < $5 OR (state = 'in_flight' AND lease_until < $5))",
        )
        .bind(id.scope)
        .bind(id.route)
        .bind(id.key)
        .bind(owner)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes every record past its expiry; returns how many.
    pub async fn purge_expired_idempotency_keys(&self, at: f64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE expires_at < $1")
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
#[path = "idempotency_tests.rs"]
mod tests;
