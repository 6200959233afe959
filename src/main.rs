//! The `rstunnel` binary: a thin shell around [`rstunnel::app::main`].

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    rstunnel::app::main(&args)
}
