//! A log read from a file (`dbt-rerun plan --log-file`), through the same [`Logs`] port the
//! functions read CloudWatch with, so both gather their inputs the same way.

use crate::ports::{AwsError, LogPage, Logs};
use dbt_rerun_core::task_definition::LogLocation;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

/// Bytes read per page: memory stays bounded whatever the file's size.
const PAGE_BYTES: usize = 1 << 20;

/// A dbt log in a file, one line per event; the log location it is asked for is ignored.
#[derive(Debug, Clone)]
pub struct FileLog {
    path: PathBuf,
}

impl FileLog {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    fn error(&self, e: std::io::Error) -> AwsError {
        AwsError::local("read log file", format!("{}: {e}", self.path.display()))
    }
}

/// Where the next page starts: a byte offset, and whether the bytes up to the next newline
/// are the rest of a line longer than a page (already given, cut).
fn parse_token(token: Option<&str>) -> (u64, bool) {
    let Some(token) = token else {
        return (0, false);
    };
    let (offset, skip) = match token.strip_suffix('+') {
        Some(offset) => (offset, true),
        None => (token, false),
    };
    (offset.parse().unwrap_or(0), skip)
}

impl Logs for FileLog {
    async fn page(&self, _at: &LogLocation, token: Option<&str>) -> Result<LogPage, AwsError> {
        let (mut offset, mut skip) = parse_token(token);
        let mut file = std::fs::File::open(&self.path).map_err(|e| self.error(e))?;
        loop {
            file.seek(SeekFrom::Start(offset))
                .map_err(|e| self.error(e))?;
            let mut buf = Vec::with_capacity(PAGE_BYTES);
            (&mut file)
                .take(PAGE_BYTES as u64)
                .read_to_end(&mut buf)
                .map_err(|e| self.error(e))?;
            let at_end = buf.len() < PAGE_BYTES;
            if skip {
                // Drop the rest of the over-long line, up to and including its newline.
                match buf.iter().position(|b| *b == b'\n') {
                    Some(i) => {
                        offset += i as u64 + 1;
                        skip = false;
                        continue;
                    }
                    None if at_end => offset += buf.len() as u64,
                    None => {
                        offset += buf.len() as u64;
                        continue;
                    }
                }
                buf.clear();
            }
            let (used, cut) = match buf.iter().rposition(|b| *b == b'\n') {
                _ if at_end => (buf.len(), false),
                Some(i) => (i + 1, false),
                // One line longer than a page: give its first page, skip the rest.
                None => (buf.len(), true),
            };
            let mut text = &buf[..used];
            if text.last() == Some(&b'\n') {
                text = &text[..text.len() - 1];
            }
            let lines = if used == 0 {
                vec![]
            } else {
                text.split(|b| *b == b'\n')
                    .map(|l| String::from_utf8_lossy(l).into_owned())
                    .collect()
            };
            let next = offset + used as u64;
            return Ok(LogPage {
                lines,
                next_token: Some(format!("{next}{}", if cut { "+" } else { "" })),
            });
        }
    }

    fn complete(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(log: &FileLog) -> Vec<String> {
        let at = LogLocation::text("", "", None);
        let mut lines = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = log.page(&at, token.as_deref()).await.unwrap();
            if page.lines.is_empty() {
                return lines;
            }
            lines.extend(page.lines);
            token = page.next_token;
        }
    }

    #[tokio::test]
    async fn pages_give_every_line_once_and_cut_only_overlong_lines() {
        let dir = std::env::temp_dir().join(format!("dbt-rerun-file-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let long = "x".repeat(PAGE_BYTES + 10);
        let mut content = String::new();
        for i in 0..200_000 {
            content.push_str(&format!("line {i}\n"));
        }
        content.push_str(&long);
        content.push_str("\nafter the long line\nlast without newline");
        std::fs::write(&path, &content).unwrap();
        let lines = read_all(&FileLog::new(&path)).await;
        assert_eq!(lines.len(), 200_000 + 3, "every line, the long one once");
        assert_eq!(lines[199_999], "line 199999");
        assert_eq!(lines[200_000].len(), PAGE_BYTES, "cut to a page");
        assert_eq!(lines[200_001], "after the long line");
        assert_eq!(lines[200_002], "last without newline");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
