//! A realistic small-business CRM history at scale N, generated deterministically and
//! executed through the engine: N deals, N/2 contacts, N/10 companies, about 3.5N
//! stage entries, 2N tasks and 5N activities over two years, plus payments.
//!
//! Used by the report benchmark (`src/bin/report_bench.rs`) and by the oracle test,
//! which checks every report against SQL over the same data.

mod dataset;
pub mod heap;
pub mod sql;

pub use dataset::{load, Shop, END, START};
