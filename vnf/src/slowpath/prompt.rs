//! The interactive prompt `egress> ` of `egress-vnf -i` and `egressctl` without a command:
//! line editing, history (Up/Down, Ctrl-R) and Tab completion of the command words. When
//! stdin is not a terminal the lines are read as they come (scripts, tests).

use super::commands::Reply;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

/// The prompt string (CONTRACT §1).
pub const PROMPT: &str = "egress> ";

/// Every command, word by word, for completion.
const WORDS: &[&[&str]] = &[
    &["show", "port", "info", "all"],
    &["show", "port", "stats", "all"],
    &["clear", "port", "stats", "all"],
    &["show", "lcores"],
    &["show", "vlan"],
    &["show", "route"],
    &["show", "neigh"],
    &["show", "config"],
    &["show", "vs", "stats"],
    &["show", "sessions", "limit"],
    &["show", "dns", "cache", "limit"],
    &["show", "dns46", "mappings", "limit"],
    &["show", "drops"],
    &["reload"],
    &["help"],
    &["quit"],
];

/// Completes the word under the cursor from the command table.
struct Words;

impl Completer for Words {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let head = line.get(..pos).unwrap_or(line);
        let start = head.rfind(' ').map_or(0, |i| i + 1);
        let done: Vec<&str> = head[..start].split_whitespace().collect();
        let partial = &head[start..];
        let mut out: Vec<Pair> = Vec::new();
        for cmd in WORDS {
            if cmd.len() > done.len() && cmd.iter().zip(&done).all(|(a, b)| a == b) {
                let w = cmd[done.len()];
                if w.starts_with(partial) && !out.iter().any(|p| p.replacement == w) {
                    out.push(Pair {
                        display: w.to_string(),
                        replacement: w.to_string(),
                    });
                }
            }
        }
        Ok((start, out))
    }
}

impl Hinter for Words {
    type Hint = String;
}
impl Highlighter for Words {}
impl Validator for Words {}
impl Helper for Words {}

/// Where `egressctl` keeps its history: `$EGRESSCTL_HISTORY`, else `~/.egressctl_history`.
pub fn history_file() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("EGRESSCTL_HISTORY") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".egressctl_history"))
}

/// Splits a trailing `--json` off a command line.
pub fn split_json(line: &str) -> (&str, bool) {
    let line = line.trim();
    match line.strip_suffix("--json") {
        Some(c) => (c.trim_end(), true),
        None => (line, false),
    }
}

/// Prints a reply as `egressctl` does: JSON data, the text, or `error: ...` (on stdout at the
/// prompt, so a session reads in order).
pub fn print_reply(r: &Reply, json: bool) {
    if json && r.ok {
        println!(
            "{}",
            serde_json::to_string_pretty(&r.data).unwrap_or_default()
        );
    } else if r.ok {
        print!("{}", r.text);
    } else {
        println!("error: {}", r.text);
    }
}

/// Runs the prompt until `quit`, `exit`, end of input (Ctrl-D) or `stop()` turns true.
/// `run` executes one command line (without `--json`) and returns the reply; `json_default`
/// prints every reply as JSON (`egressctl --json`). Returns true
/// when the user typed `quit` or `exit`.
pub fn run(
    history: Option<PathBuf>,
    json_default: bool,
    stop: impl Fn() -> bool,
    mut run: impl FnMut(&str, bool) -> Reply,
) -> bool {
    let mut ed: Editor<Words, DefaultHistory> = match Editor::new() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("interactive prompt unavailable: {e}");
            return false;
        }
    };
    ed.set_helper(Some(Words));
    if let Some(h) = &history {
        let _ = ed.load_history(h);
    }
    let tty = std::io::stdin().is_terminal();
    let mut quit = false;
    while !stop() {
        // On a terminal the editor draws the prompt; from a pipe or file it prints none, so
        // print it here (scripts and logs show the same `egress> ` lines).
        let prompt = if tty {
            PROMPT
        } else {
            print!("{PROMPT}");
            let _ = std::io::stdout().flush();
            ""
        };
        let line = match ed.readline(prompt) {
            Ok(l) => l,
            Err(ReadlineError::Interrupted) => continue,
            Err(_) => break,
        };
        let cmd = line.trim();
        if cmd.is_empty() {
            continue;
        }
        let _ = ed.add_history_entry(cmd);
        if cmd == "quit" || cmd == "exit" {
            quit = true;
            break;
        }
        let (cmd, json_suffix) = split_json(cmd);
        let json = json_default || json_suffix;
        let reply = run(cmd, json);
        print_reply(&reply, json);
    }
    if let Some(h) = &history {
        let _ = ed.save_history(h);
    }
    quit
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustyline::history::DefaultHistory;

    fn complete(line: &str) -> Vec<String> {
        let h = DefaultHistory::new();
        let ctx = Context::new(&h);
        let (_, c) = Words.complete(line, line.len(), &ctx).unwrap();
        c.into_iter().map(|p| p.replacement).collect()
    }

    #[test]
    fn completes_words() {
        assert_eq!(complete("sh"), vec!["show"]);
        assert_eq!(complete("show d"), vec!["dns", "dns46", "drops"]);
        assert_eq!(complete("show dns46 "), vec!["mappings"]);
        assert_eq!(complete("clear port "), vec!["stats"]);
        assert!(complete("bogus ").is_empty());
    }

    #[test]
    fn json_suffix() {
        assert_eq!(split_json(" show drops --json "), ("show drops", true));
        assert_eq!(split_json("show drops"), ("show drops", false));
    }
}
