//! The hub-local settings (`crate::meeting::HubSettings`: the meeting's
//! cut-off, the street's name), kept as one JSON value in `setting` under
//! `hub_settings`. Unlike the table configuration they are never sent to
//! the nodes, so storing them appends nothing to any down log.

use super::*;
use crate::meeting::{Cutoff, HubSettings};

/// The `setting` key of the hub-local settings.
const HUB_SETTINGS_KEY: &str = "hub_settings";

const HUB_SETTINGS_SELECT_SQL: &str = "SELECT value FROM setting WHERE key = 'hub_settings'";

const HUB_SETTINGS_UPSERT_SQL: &str = "INSERT INTO setting (key, value) VALUES (?1, ?2)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";

/// Reads the hub-local settings (defaults when none were set).
pub(crate) fn stored_settings(conn: &Connection) -> Result<HubSettings> {
    let stored: Option<String> = conn
        .query_row(HUB_SETTINGS_SELECT_SQL, (), |row| row.get(0))
        .optional()?;
    // A value this version cannot read is an error, not the defaults: a
    // snapshot at the wrong time is worse than a clear refusal.
    let settings = stored
        .map(|json| {
            serde_json::from_str(&json).map_err(|e| crate::db::Error::Conversion {
                column: 0,
                reason: format!("setting {HUB_SETTINGS_KEY}: {e}"),
            })
        })
        .transpose()?;
    Ok(settings.unwrap_or_default())
}

impl HubStore {
    /// The hub-local settings: the meeting's cut-off and the street's name.
    ///
    /// # Errors
    /// SQLite errors, or a stored value this version cannot read.
    pub fn hub_settings(&self) -> Result<HubSettings> {
        stored_settings(&self.conn)
    }

    /// Changes the hub-local settings given (`street_name` already checked
    /// by `meeting::street_name`); returns them all. Nothing goes to the
    /// nodes.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn set_hub_settings(
        &mut self,
        cutoff: Option<Cutoff>,
        street_name: Option<String>,
    ) -> Result<HubSettings> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut settings = stored_settings(&tx)?;
        if let Some(cutoff) = cutoff {
            settings.cutoff = cutoff;
        }
        if let Some(name) = street_name {
            settings.street_name = name;
        }
        tx.execute(
            HUB_SETTINGS_UPSERT_SQL,
            params![
                HUB_SETTINGS_KEY,
                serde_json::to_string(&settings).expect("settings serialise")
            ],
        )?;
        tx.commit()?;
        Ok(settings)
    }
}

impl HubStore {
    /// A hub-local value kept under `key` in `setting`, if any.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM setting WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .optional()?)
    }

    /// Keeps `value` under `key` in `setting`.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO setting (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }
}
