//! Hot paths of tidewater-fan-out.
fn main() {}
