//! Shell words as values: what a static word means once the shell has removed its quotes,
//! and how dbt-rerun writes a new word.

/// The value of a word whose meaning needs no expansion, as POSIX `sh` would pass it to a
/// command: quotes removed, backslash escapes applied, line continuations dropped. None when
/// the word expands at run time (`$X`, `${X}`, `$(...)`, backquotes), may be globbed or
/// brace-expanded (`*`, `?`, `[`, `{`, unquoted), or starts with a tilde: its value is known
/// only when the script runs.
pub fn static_value(word: &str) -> Option<String> {
    let mut out = String::with_capacity(word.len());
    let mut chars = word.chars().peekable();
    let mut first = true;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\n') | None => {}
                Some(escaped) => out.push(escaped),
            },
            '\'' => loop {
                match chars.next()? {
                    '\'' => break,
                    inner => out.push(inner),
                }
            },
            '"' => double_quoted(&mut chars, &mut out)?,
            '$' | '`' | '*' | '?' | '[' | '{' | '}' => return None,
            '~' if first => return None,
            other => out.push(other),
        }
        first = false;
    }
    Some(out)
}

/// The inside of `"..."` up to its closing quote; None at an expansion.
fn double_quoted(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    out: &mut String,
) -> Option<()> {
    loop {
        match chars.next()? {
            '"' => return Some(()),
            '$' | '`' => return None,
            '\\' => match chars.next()? {
                '\n' => {}
                c @ ('$' | '`' | '"' | '\\') => out.push(c),
                other => {
                    out.push('\\');
                    out.push(other);
                }
            },
            other => out.push(other),
        }
    }
}

/// `value` as one single-quoted shell word. dbt-rerun only writes words it built itself
/// (flags, and terms of validated node names or of the original's own selection), which never
/// hold a quote; one that did would be closed and reopened (`'\''`) rather than break out.
pub fn single_quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_escapes_are_removed_as_sh_does() {
        for (word, value) in [
            ("build", "build"),
            ("'tag:nightly'", "tag:nightly"),
            ("\"a b\"", "a b"),
            (r"a\ b", "a b"),
            ("'a'\"b\"\\ c", "ab c"),
            ("--tar\\\nget", "--target"),
            (r#""x\"y\$z\q""#, r#"x"y$z\q"#),
            ("'{\"a\": 1}'", "{\"a\": 1}"),
            ("''", ""),
            ("a=b", "a=b"),
        ] {
            assert_eq!(static_value(word).as_deref(), Some(value), "{word}");
        }
    }

    #[test]
    fn words_that_expand_have_no_static_value() {
        for word in [
            "$X",
            "\"$DBT_TARGET\"",
            "${X:-prod}",
            "$(cat f)",
            "`date`",
            "models/*.sql",
            "a?",
            "[ab]",
            "~/x",
            "{a,b}",
            "'unterminated",
        ] {
            assert_eq!(static_value(word), None, "{word}");
        }
        assert_eq!(
            static_value("'$X'").as_deref(),
            Some("$X"),
            "single quotes keep $"
        );
        assert_eq!(static_value("a~b").as_deref(), Some("a~b"));
    }

    #[test]
    fn new_words_are_single_quoted_and_read_back_as_written() {
        for value in ["fct_orders", "--select", "a+,tag:x", "it's"] {
            assert_eq!(static_value(&single_quoted(value)).as_deref(), Some(value));
        }
        assert_eq!(single_quoted("fct_orders"), "'fct_orders'");
    }
}
