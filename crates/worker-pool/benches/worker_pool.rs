//! Hot paths of the worker pools (work in progress).
fn main() {}
