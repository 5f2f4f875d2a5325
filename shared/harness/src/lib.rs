//! # marketbill-harness
//!
//! What only the tests and the benchmark need, kept apart from `marketbill-testkit` (whose
//! simulator and order generator ship in the `marketbill` command): the project's Python venv
//! and the AWS emulator (moto in server mode) started on a free loopback port.

pub mod moto;
