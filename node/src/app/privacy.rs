//! The node's one privacy step: personal data leaves the node masked
//! unless the caller asks to see it, and every such request is written to
//! the node's audit log before anything is produced.
//!
//! Every output that can show an ID number, a phone or a name goes
//! through [`step`] and then [`Mask::mask`]; nothing else in the node
//! produces [`Privacy::Unmasked`].
//!
//! What a verification task shows: the **name in full** (the compound's
//! worker has to find the person by name, and the hub sent the list by
//! name), the **phone masked** unless revealed. Task entries carry no ID
//! number.

use lianfang_proto::mask::Privacy;

use lianfang_proto::kinds::Sensitive;

use super::day::QueueEntry;
use super::records::RecordView;
use crate::directives::TaskEntry;
use crate::store::{Store, StoreError};

/// What the caller asks to see: personal data masked (the default) or in
/// full, which is audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reveal {
    /// ID numbers and phones masked (names where the output masks them).
    #[default]
    Masked,
    /// Shown as stored; written to the audit log first.
    Unmasked,
}

impl Reveal {
    /// `Unmasked` when `unmasked` (a command-line flag or a form's reveal).
    pub fn from_flag(unmasked: bool) -> Reveal {
        if unmasked {
            Reveal::Unmasked
        } else {
            Reveal::Masked
        }
    }
}

/// The privacy step: decides how `what` (e.g. "task entries") is shown and,
/// when the caller asked to unmask, writes that to the audit log first.
///
/// # Errors
/// SQLite errors; then nothing may be shown.
pub(crate) fn step(store: &Store, reveal: Reveal, what: &str) -> Result<Privacy, StoreError> {
    Ok(match reveal {
        Reveal::Masked => Privacy::Masked,
        Reveal::Unmasked => {
            store.audit(
                "unmasked_output",
                &format!("{what} shown with phones unmasked"),
            )?;
            Privacy::Unmasked
        }
    })
}

/// The privacy step for one record's full values (a page's reveal): the
/// audit entry names the record.
///
/// # Errors
/// SQLite errors; then nothing may be shown.
pub(crate) fn step_record(
    store: &Store,
    reveal: Reveal,
    kind: &str,
    id: &str,
) -> Result<Privacy, StoreError> {
    Ok(match reveal {
        Reveal::Masked => Privacy::Masked,
        Reveal::Unmasked => {
            store.audit(
                "unmasked_output",
                &format!("{kind} {id} shown with ID numbers and phones unmasked"),
            )?;
            Privacy::Unmasked
        }
    })
}

/// An output that holds personal data, masked in place as `privacy` says.
pub trait Mask {
    /// Masks what `privacy` masks.
    fn mask(&mut self, privacy: Privacy);
}

impl Mask for TaskEntry {
    fn mask(&mut self, privacy: Privacy) {
        // The name stays: the worker finds the person by it.
        self.phone = privacy.phone(&self.phone);
    }
}

impl Mask for RecordView {
    /// ID numbers and phones; the name stays, as in task lists (the worker
    /// finds the person by it).
    fn mask(&mut self, privacy: Privacy) {
        let columns = self.kind.ledger().map_or(&[][..], |l| l.columns);
        for (column, cell) in columns.iter().zip(self.cells.iter_mut()) {
            match column.sensitive {
                Some(Sensitive::IdNumber) => *cell = privacy.id_number(cell),
                Some(Sensitive::Phone) => *cell = privacy.phone(cell),
                Some(Sensitive::Name) | None => {}
            }
        }
    }
}

impl Mask for QueueEntry {
    /// The phone; the name stays (the worker calls the person by it).
    fn mask(&mut self, privacy: Privacy) {
        self.phone = privacy.phone(&self.phone);
    }
}

impl<T: Mask> Mask for Vec<T> {
    fn mask(&mut self, privacy: Privacy) {
        for item in self {
            item.mask(privacy);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> TaskEntry {
        TaskEntry {
            task: "1".into(),
            title: "排摸核查".into(),
            entry_id: "1".into(),
            name: "张三".into(),
            phone: "13912345678".into(),
            address: "1-101".into(),
            reason: "返沪".into(),
            result: None,
            note: None,
        }
    }

    #[test]
    fn task_entries_keep_the_name_and_mask_the_phone() {
        let mut entries = vec![entry()];
        entries.mask(Privacy::Masked);
        assert_eq!(entries[0].name, "张三");
        assert_ne!(entries[0].phone, "13912345678");
        let mut entries = vec![entry()];
        entries.mask(Privacy::Unmasked);
        assert_eq!(entries[0], entry());
    }
}
