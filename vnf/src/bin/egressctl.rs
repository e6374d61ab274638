//! `egressctl`: the operator CLI (CONTRACT §1). Sends one command to a running VNF's control
//! socket and prints the reply (exit 0, or 1 on error), or gives an interactive prompt.
//! `egressctl dssm ...` manages DNS46 mappings in dSSM directly (`slowpath::dssm::admin`).

use clap::Parser;
use egress_vnf::slowpath::control::request;
use egress_vnf::slowpath::prompt::{self, split_json};
use egress_vnf::slowpath::Reply;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(name = "egressctl", version, about = "Operator CLI for egress-vnf")]
struct Args {
    /// Control socket of the VNF.
    #[arg(long, default_value = "/run/egress-vnf/control.sock")]
    socket: PathBuf,
    /// Print the reply's data as JSON.
    #[arg(long)]
    json: bool,
    /// The command words (none: interactive prompt).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

fn run_one(socket: &Path, line: &str, json: bool) -> bool {
    let (line, json_suffix) = split_json(line);
    let json = json || json_suffix;
    match request(socket, line, json) {
        Ok(r) => {
            if json && r.ok {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&r.data).unwrap_or_default()
                );
            } else if r.ok {
                print!("{}", r.text);
            } else {
                eprintln!("error: {}", r.text);
            }
            r.ok
        }
        Err(e) => {
            eprintln!(
                "egressctl: cannot reach the VNF at {}: {e}",
                socket.display()
            );
            false
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    // `egressctl dssm ...` talks to dSSM directly (CONTRACT §4), not to a VNF.
    if args.command.first().map(String::as_str) == Some("dssm") {
        return ExitCode::from(egress_vnf::slowpath::dssm::admin::main(&args.command[1..]));
    }
    if !args.command.is_empty() {
        let line = args.command.join(" ");
        return if run_one(&args.socket, &line, args.json) {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }
    let socket = args.socket.clone();
    prompt::run(
        prompt::history_file(),
        args.json,
        || false,
        |cmd, json| match request(&socket, cmd, json) {
            Ok(r) => r,
            Err(e) => Reply::err(format!("cannot reach the VNF at {}: {e}", socket.display())),
        },
    );
    ExitCode::SUCCESS
}
