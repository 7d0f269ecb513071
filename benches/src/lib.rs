//! Side-by-side benchmarks of the tidewater crates against their peers.
//!
//! Every comparison lives in `benches/<area>.rs` and runs the same workload through
//! tidewater and each peer inside one criterion group named `<area>/<scenario>`, with
//! the implementations as `<area>/<scenario>/<implementation>`. Run them with
//! `cargo xtask bench` (see `docs/benchmarks.md`).
