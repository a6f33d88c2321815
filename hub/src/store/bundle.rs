//! Importing a sealed bundle carried on a USB stick.

use super::apply::apply_checked;
use super::auth::bind_log;
use super::*;

impl HubStore {
    /// Applies a bundle file carried from a node: finds the enrolment whose
    /// token sealed it, refuses it where a sync would be refused (revoked
    /// token, another log bound), binds a fresh enrolment to the bundle's log
    /// as a first sync does, then applies each lane as a push (replays
    /// ignored, gaps refused), all in one transaction.
    ///
    /// # Errors
    /// [`HubError::Bundle`] for a bad file or seal; the push errors.
    pub fn import_bundle(&mut self, bytes: &[u8]) -> Result<BundleImport> {
        let (bundle, file) =
            lianfang_proto::bundle::open(bytes).map_err(|e| HubError::Bundle(e.to_string()))?;
        // Every token ever issued to the compound: the seal tells which one
        // made the bundle, and that enrolment is then held to the rules of a
        // sync (not revoked; bound to this log, or to none yet).
        let rows: Vec<(i64, Vec<u8>, bool, Option<String>)> = {
            let mut stmt = self.conn.prepare(
                "SELECT id, token_hash, revoked_at IS NOT NULL, log_id FROM node
                 WHERE compound = ?1 ORDER BY id DESC",
            )?;
            stmt.query_map(params![bundle.compound], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })?
            .collect::<Result<_, _>>()?
        };
        let (node, revoked, bound) = rows
            .into_iter()
            .find(|(_, hash, _, _)| {
                hash.as_slice()
                    .try_into()
                    .is_ok_and(|key| lianfang_proto::bundle::check_seal(&file, key).is_ok())
            })
            .map(|(id, _, revoked, bound)| (id, revoked, bound))
            .ok_or_else(|| {
                HubError::Bundle(format!(
                    "no enrolment of compound {} has a token that seals this bundle \
                     (altered, or from another hub)",
                    bundle.compound
                ))
            })?;
        if revoked {
            return Err(HubError::Bundle(format!(
                "the token that sealed this bundle of compound {} (log {}) has been revoked; \
                 the compound must be enrolled again",
                bundle.compound, bundle.log_id
            )));
        }
        if let Some(bound) = bound.filter(|bound| *bound != bundle.log_id) {
            return Err(HubError::Bundle(format!(
                "log {} of compound {} is not the node database its token is bound to \
                 (log {bound}); a node whose data directory was recreated must be enrolled again",
                bundle.log_id, bundle.compound
            )));
        }
        let caller = Caller {
            node,
            compound: bundle.compound.clone(),
        };
        let mut lanes = bundle.lanes;
        lanes.sort_by_key(|l| l.lane != Lane::Urgent as i32);
        // Check every lane before writing anything, then apply them all in
        // one transaction: a bundle is applied whole or not at all.
        let mut checked = Vec::with_capacity(lanes.len());
        for lane in &lanes {
            let kind = Lane::try_from(lane.lane)
                .map_err(|_| HubError::Bundle(format!("unknown lane {}", lane.lane)))?;
            checked.push((kind, self.check_entries(&caller, kind, &lane.entries)?));
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        // A valid seal proves the token's secret as a sync does: a fresh
        // enrolment is bound to the bundle's log here, as a first sync would.
        bind_log(&tx, &caller, &bundle.log_id)?;
        let mut outcome = Vec::new();
        for (lane, (kind, range)) in lanes.iter().zip(checked) {
            let applied = apply_checked(
                &tx,
                &caller,
                &bundle.log_id,
                kind,
                lane.head,
                range,
                &lane.entries,
            )?;
            outcome.push((kind, applied));
        }
        tx.commit()?;
        Ok(BundleImport {
            compound: bundle.compound,
            lanes: outcome,
        })
    }
}
