use std::process::ExitCode;

fn main() -> ExitCode {
    slim::cli::main()
}
