//! Batch runs of triage: the third adapter (after the CLI's one-case
//! commands and the HTTP service).
//!
//! `triage run` reads cases from JSON Lines, JSON arrays, CSV exports, mbox
//! files and directories of `.eml` messages, decides them in parallel with
//! the same rules as live cases, and writes one decision per case in input
//! order. `triage report` turns those decisions into a report for managers.
//!
//! The shape of a run ([`run`]):
//!
//! ```text
//! inputs ──read (one thread, chunks of records)──► chunk
//!        ──decide (rayon, in parallel)──► outcome per record, in order
//!        ──write (in input order)──► decisions file · rejects file
//! ```
//!
//! - **Nothing is lost.** Every record ends as a decision or a reject that
//!   names its input and position (line, CSV row, array element, mail
//!   message index and byte offset) and carries the raw record; per input,
//!   `read = decided + rejected` ([`Summary`]).
//! - **Streaming.** JSON Lines, JSON arrays and CSV are read in chunks, so
//!   memory does not grow with the input. Mail is the exception: messages
//!   are grouped into threads across every mail input before any thread is
//!   decided, so a mail run holds the messages' headers and text (not their
//!   attachments) in memory.
//! - **Resumable.** Decisions are written record by record; [`resume_point`]
//!   finds where an interrupted run stopped, and a resumed run writes what an
//!   uninterrupted one would have.
//! - **Deterministic.** The output does not depend on the number of
//!   threads: each case is decided against the directory as given (loads are
//!   not carried from one case to the next; `triage assign` plans a batch
//!   against capacity), and records are written in input order.

pub mod csvmap;
pub mod input;
pub mod mail;
pub mod output;
pub mod report;
pub mod run;

pub use csvmap::ColumnMap;
pub use input::{InputFormat, InputSpec, Position};
pub use mail::MailOptions;
pub use output::{LeanDecision, OutputFormat};
pub use run::{At, Detail, InputCounts, RunConfig, RunIdentity, Summary, check, resume_point, run};

/// Why a batch run could not go on (an input or output that cannot be
/// opened or written, a bad option). A bad *record* is never an error: it
/// goes to the rejects file.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BatchError(pub String);

impl BatchError {
    pub(crate) fn io(what: impl std::fmt::Display, e: &std::io::Error) -> BatchError {
        BatchError(format!("{what}: {e}"))
    }
}
