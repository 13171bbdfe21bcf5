//! Runnable examples live beside this file; see `embed.rs`.
