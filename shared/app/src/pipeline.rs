//! The twice-daily job's use cases, gathered for callers: the services and settings
//! ([`crate::services`]), the scheduler ([`crate::schedule`]), a seller run
//! ([`crate::seller_run`]) and the import tracker ([`crate::import_tracker`]).

pub use crate::import_tracker::*;
pub use crate::schedule::*;
pub use crate::seller_run::*;
pub use crate::services::*;
