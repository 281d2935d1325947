//! What may appear in a planned command: an argument of the original command, a flag the
//! planner writes, or selector terms built from validated node names, the original's own
//! terms, graph operators and `resource_type:` filters.

use dbt_rerun_core::NodeName;
use std::collections::HashSet;

/// The original command's arguments and every piece of them the planner may write back
/// (dbt splits selection values on whitespace, intersections on `,`), read once per input.
pub struct Original {
    pieces: HashSet<String>,
    bases: HashSet<String>,
}

impl Original {
    pub fn new(argv: &[String]) -> Self {
        let mut pieces = HashSet::new();
        for arg in argv {
            pieces.insert(arg.clone());
            // `--select=VALUE`: the value is the original's.
            let value = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => value,
                _ => arg.as_str(),
            };
            for term in arg.split_whitespace().chain(value.split_whitespace()) {
                pieces.insert(term.to_owned());
                for part in term.split(',') {
                    pieces.insert(part.to_owned());
                }
            }
        }
        let bases = pieces.iter().map(|p| without_depth(p).to_owned()).collect();
        Self { pieces, bases }
    }

    pub fn allowed(&self, arg: &str) -> bool {
        if self.pieces.contains(arg) {
            return true;
        }
        if ["--select", "--exclude", "--indirect-selection", "empty"].contains(&arg) {
            return true;
        }
        if arg.starts_with('-') {
            return false;
        }
        arg.split(',').all(|part| {
            if self.pieces.contains(part)
                || part == "resource_type:test"
                || part == "resource_type:unit_test"
            {
                return true;
            }
            // `name`, `name+`, `name+3`, or an original term with its `+N` changed.
            let base = without_depth(part);
            NodeName::parse(base).is_ok() || self.bases.contains(base)
        })
    }
}

/// A selector part without its trailing graph operator (`+` or `+N`).
fn without_depth(part: &str) -> &str {
    match part.rsplit_once('+') {
        Some((base, depth)) if depth.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => part,
    }
}
