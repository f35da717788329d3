//! slim: turn a fat container image into a distroless one, statically and
//! daemonless, and say what is inside it.
//!
//! The pipeline, one module per stage: [`image`] (read/write) → [`fs`]
//! (merged view) → [`analyze`] (reports).
#![deny(unsafe_code)]

pub mod analyze;
pub mod audit;
pub mod catalog;
pub mod cli;
pub mod diagnostic;
pub mod digest;
pub mod elf;
pub mod fs;
pub mod image;
pub mod lock;
pub mod media;
pub mod plan;
pub mod progress;
pub mod reference;
pub mod registry;
pub mod rewrite;
pub mod rules;
pub mod run;
pub mod sbom;
pub mod tmp;
pub mod trace;
pub mod transport;
