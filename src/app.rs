//! Start-up order and the top-level run loop.

use std::process::ExitCode;

pub fn main(args: &[String]) -> ExitCode {
    let _ = args;
    ExitCode::from(1)
}
