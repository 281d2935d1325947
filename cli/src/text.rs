//! Text for a terminal, shared by the plan summary and the history table.

/// `text` in at most `room` characters: cut with `…` when longer.
pub fn shorten(text: &str, room: usize) -> String {
    if text.chars().count() <= room {
        return text.to_owned();
    }
    if room == 0 {
        return String::new();
    }
    let mut cut: String = text.chars().take(room - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortening_counts_characters() {
        assert_eq!(shorten("dbt build", 20), "dbt build");
        assert_eq!(shorten("dbt build", 5), "dbt …");
        assert_eq!(shorten("ééééé", 3), "éé…");
        assert_eq!(shorten("x", 0), "");
    }
}
