//! The hub's one privacy step: personal data leaves the hub masked unless
//! the caller asks to see it, and every such request is written to the
//! audit log before anything is produced.
//!
//! Every output that can show an ID number, a phone or a name goes through
//! [`step`], then masks with the [`Privacy`] it returns ([`Mask::mask`], or
//! `export::export`, which takes it as an argument); nothing else in the
//! hub produces [`Privacy::Unmasked`].
//!
//! What each output shows masked:
//! - exports of records: ID numbers, phones and names;
//! - verification task entries: phones; the **name stays in full**, since
//!   the list is sent by name and the compound finds the person by it.

use lianfang_proto::mask::Privacy;

use crate::directives::TaskEntryStatus;
use crate::export::ExportKind;
use crate::store::{HubStore, Result};

/// What the caller asks to see: personal data masked (the default) or in
/// full, which is audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reveal {
    /// ID numbers, phones and names masked (as the output masks them).
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

/// An output that may show personal data, as the audit log names it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Output<'a> {
    /// An export of one kind's records, of one compound or all.
    Export {
        kind: ExportKind,
        compound: Option<&'a str>,
    },
    /// The entries of one verification task.
    Task(i64),
    /// Entries not yet answered, across tasks.
    Outstanding,
}

impl<'a> Output<'a> {
    /// The compound the audit entry is about, if one.
    fn compound(self) -> Option<&'a str> {
        match self {
            Output::Export { compound, .. } => compound,
            Output::Task(_) | Output::Outstanding => None,
        }
    }

    fn detail(self) -> String {
        match self {
            Output::Export { kind, .. } => {
                format!("{kind:?} exported with ID numbers, phones and names unmasked")
            }
            Output::Task(id) => format!("task {id} shown with phones unmasked"),
            Output::Outstanding => "outstanding task entries shown with phones unmasked".into(),
        }
    }
}

/// The privacy step: decides how `output` is shown and, when the caller
/// asked to unmask, writes that to the audit log first.
///
/// # Errors
/// SQLite errors; then nothing may be shown.
pub(crate) fn step(store: &HubStore, reveal: Reveal, output: Output<'_>) -> Result<Privacy> {
    Ok(match reveal {
        Reveal::Masked => Privacy::Masked,
        Reveal::Unmasked => {
            store.audit(output.compound(), "unmasked_output", &output.detail())?;
            Privacy::Unmasked
        }
    })
}

/// An output that holds personal data, masked in place as `privacy` says.
pub trait Mask {
    /// Masks what `privacy` masks.
    fn mask(&mut self, privacy: Privacy);
}

impl Mask for TaskEntryStatus {
    fn mask(&mut self, privacy: Privacy) {
        // The name stays: the list is sent by name.
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
