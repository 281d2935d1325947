//! What may appear in a planned command: an argument of the original command, a flag the
//! planner writes, or selector terms built from validated node names, the original's own
//! terms, graph operators and `resource_type:` filters.

use dbt_rerun::NodeName;

pub fn allowed(arg: &str, original: &[String]) -> bool {
    // dbt (and the planner) split selection values on whitespace, and intersections on `,`:
    // each piece of an original argument is the original's too.
    let pieces: Vec<String> = original
        .iter()
        .flat_map(|o| {
            std::iter::once(o.as_str())
                .chain(o.split_whitespace())
                .chain(o.split_whitespace().flat_map(|t| t.split(',')))
        })
        .map(str::to_owned)
        .collect();
    let original = &pieces[..];
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
        // `name`, `name+`, `name+3`, or an original term with its `+N` changed.
        let base = without_depth(part);
        NodeName::parse(base).is_ok() || original.iter().any(|o| without_depth(o) == base)
    })
}

/// A selector part without its trailing graph operator (`+` or `+N`).
fn without_depth(part: &str) -> &str {
    match part.rsplit_once('+') {
        Some((base, depth)) if depth.bytes().all(|b| b.is_ascii_digit()) => base,
        _ => part,
    }
}
