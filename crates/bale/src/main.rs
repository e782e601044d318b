//! The `bale` command: argument parsing, progress and printing only. All
//! the work is in the library crates.

mod cli;
mod commands;
mod errors;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // A stage of the build sandbox runs as this executable; it must start
    // before any thread does.
    bale_sandbox::helper_main();
    let cli = cli::Cli::parse();
    let json = cli.global.json;
    match commands::run(cli) {
        Ok(code) => code,
        Err(error) => {
            errors::render(&error, json);
            ExitCode::FAILURE
        }
    }
}
