//! Progress reporting for long operations.
//!
//! Libraries never draw anything: they call a [`Progress`] they were handed.
//! The CLI implements it with progress bars when stderr is a terminal and with
//! [`NoProgress`] otherwise, so library code stays the same in both cases.

/// Receives progress of one long operation, made of named phases.
///
/// Implementations must be cheap to call: `advance` is called per file or per
/// chunk on hot paths.
pub trait Progress: Send + Sync {
    /// A new phase begins. `total` is in the phase's unit (bytes unless the
    /// phase says otherwise) when known in advance.
    fn phase(&self, name: &str, total: Option<u64>);
    /// `amount` more units of the current phase are done.
    fn advance(&self, amount: u64);
    /// The current phase is done.
    fn finish_phase(&self);
    /// Something the user should know that does not stop the work (a
    /// damaged cache entry that is being rebuilt). Shown even where no
    /// bars are drawn; ignored by default.
    fn warn(&self, _message: &str) {}
}

/// Reports nothing. The default for scripts, tests and non-terminals.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn phase(&self, _name: &str, _total: Option<u64>) {}
    fn advance(&self, _amount: u64) {}
    fn finish_phase(&self) {}
}
