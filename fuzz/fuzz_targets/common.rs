//! What may appear in a planned command: an argument of the original command, a flag the
//! planner writes, or selector terms built from validated node names, the original's own
//! terms, graph operators and `resource_type:` filters.

use dbt_rerun::NodeName;

pub fn allowed(arg: &str, original: &[String]) -> bool {
    if original.iter().any(|o| o == arg) {
        return true;
    }
    if ["--select", "--exclude", "--indirect-selection", "empty"].contains(&arg) {
        return true;
    }
    if arg.starts_with('-') {
        return false;
    }
    arg.split(',').all(|part| {
        if original.iter().any(|o| o == part) || part == "resource_type:test" || part == "resource_type:unit_test" {
            return true;
        }
        // `name`, `name+`, `name+3`, or an original term with `+N` added.
        let base = part.trim_end_matches(|c: char| c.is_ascii_digit()).trim_end_matches('+');
        NodeName::parse(base).is_ok() || original.iter().any(|o| o == base || o.trim_end_matches('+') == base)
    })
}
