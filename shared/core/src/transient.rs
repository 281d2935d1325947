//! Which warehouse errors are transient: worth the same query again a little later.
//!
//! Patterns are case-insensitive substrings of dbt's error message. The built-in lists follow
//! the errors each adapter's own retry logic and the community's lists (Elementary, dbt
//! adapters' `retry_on_database_errors`) treat as transient: dropped or refused connections,
//! timeouts while connecting, serialization conflicts between concurrent writers, lock
//! timeouts and throttling. A deterministic error (missing column, bad SQL, permission denied)
//! must never match.

/// The warehouse a pattern comes from, for the record's explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warehouse {
    /// Errors any driver or network path gives.
    Any,
    Postgres,
    Redshift,
    Snowflake,
    BigQuery,
    Databricks,
    DuckDb,
    /// From `DBT_RERUN_TRANSIENT_PATTERNS`.
    User,
}

const BUILT_IN: &[(Warehouse, &[&str])] = &[
    (
        Warehouse::Any,
        &[
            "connection reset by peer",
            "connection refused",
            "connection timed out",
            "connection aborted",
            "broken pipe",
            "timed out while connecting",
            "temporary failure in name resolution",
            "name or service not known",
            "network is unreachable",
            "remote end closed connection",
            "max retries exceeded",
            "502 bad gateway",
            "503 service unavailable",
            "504 gateway timeout",
            "http 503",
            "http error 503",
            "too many requests",
            "throttl",
            "rate exceeded",
        ],
    ),
    (
        Warehouse::Postgres,
        &[
            "could not connect to server",
            "could not receive data from server",
            "could not send data to server",
            "server closed the connection unexpectedly",
            "ssl syscall error",
            "ssl connection has been closed unexpectedly",
            "eof detected",
            "terminating connection due to administrator command",
            "the database system is starting up",
            "the database system is shutting down",
            "the database system is in recovery mode",
            "too many connections",
            "remaining connection slots are reserved",
            "could not serialize access",
            "deadlock detected",
            "canceling statement due to lock timeout",
            "lock not available",
        ],
    ),
    (
        Warehouse::Redshift,
        &[
            "serializable isolation violation",
            "conflict with concurrent transaction",
            "communication link failure",
            "connection to the cluster",
            "cluster is currently unavailable",
            "query was cancelled due to wlm",
            "error: 1023",
        ],
    ),
    (
        Warehouse::Snowflake,
        &[
            "could not connect to snowflake backend",
            "failed to connect to db",
            "250001 (08001)",
            "250003 (08001)",
            "snowflake internal error",
            "is being resumed",
            "statement reached its statement or warehouse timeout while waiting",
            "000604 (57014)",
        ],
    ),
    (
        Warehouse::BigQuery,
        &[
            "ratelimitexceeded",
            "exceeded rate limits",
            "jobratelimitexceeded",
            "backenderror",
            "internalerror",
            "an internal error occurred",
            "the job encountered an internal error",
            "retrying may solve the problem",
            "could not serialize access to table",
            "transaction is aborted due to concurrent update",
            "service unavailable",
        ],
    ),
    (
        Warehouse::Databricks,
        &[
            "temporarily_unavailable",
            "concurrentappendexception",
            "concurrentdeletereadexception",
            "concurrentdeletedeleteexception",
            "concurrenttransactionexception",
            "metadatachangedexception",
            "protocolchangedexception",
            "error during request to server",
            "the cluster is not ready",
            "cluster is starting",
            "sqlstate: 08",
        ],
    ),
    (
        Warehouse::DuckDb,
        &[
            "could not set lock on file",
            "conflicting lock is held",
            "write-write conflict",
            "transaction conflict",
        ],
    ),
];

/// The set of transient-error patterns in force: the built-in lists plus the user's.
#[derive(Debug, Clone, Default)]
pub struct TransientPatterns {
    /// Extra patterns, lower-cased.
    user: Vec<String>,
}

/// A transient error recognised in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransientMatch {
    pub warehouse: Warehouse,
    pub pattern: String,
}

impl TransientPatterns {
    /// The built-in patterns plus `extra` (case-insensitive substrings; empty ones ignored).
    pub fn with_extra<I, S>(extra: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            user: extra
                .into_iter()
                .map(|p| p.as_ref().trim().to_lowercase())
                .filter(|p| !p.is_empty())
                .collect(),
        }
    }

    /// The first pattern `message` contains, if any.
    pub fn find(&self, message: &str) -> Option<TransientMatch> {
        let message = message.to_lowercase();
        for (warehouse, patterns) in BUILT_IN {
            if let Some(p) = patterns.iter().find(|p| message.contains(*p)) {
                return Some(TransientMatch {
                    warehouse: *warehouse,
                    pattern: (*p).to_owned(),
                });
            }
        }
        self.user
            .iter()
            .find(|p| message.contains(p.as_str()))
            .map(|p| TransientMatch {
                warehouse: Warehouse::User,
                pattern: p.clone(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transient(message: &str) -> bool {
        TransientPatterns::default().find(message).is_some()
    }

    #[test]
    fn each_warehouses_transient_errors_are_recognised() {
        for message in [
            // Postgres / Redshift (psycopg2)
            "Database Error in model x\n  SSL SYSCALL error: EOF detected",
            "could not connect to server: Connection refused\n\tIs the server running",
            "server closed the connection unexpectedly\n\tThis probably means the server terminated",
            "ERROR: could not serialize access due to concurrent update",
            "ERROR: 1023 DETAIL: Serializable isolation violation on table - 123",
            "deadlock detected",
            // Snowflake
            "250001 (08001): Failed to connect to DB: xy.snowflakecomputing.com:443",
            "Could not connect to Snowflake backend after 0 attempt(s).",
            // BigQuery
            "Exceeded rate limits: too many table update operations for this table",
            "Retrying may solve the problem.",
            // Databricks
            "[DELTA_CONCURRENT_APPEND] ConcurrentAppendException: Files were added",
            "TEMPORARILY_UNAVAILABLE: the service is temporarily unavailable",
            // DuckDB
            "IO Error: Could not set lock on file \"x.duckdb\": Conflicting lock is held",
            // Any
            "HTTPSConnectionPool(host='x', port=443): Max retries exceeded with url",
            "Rate exceeded (Service: Glue, Status Code: 400, Request ID: 1)",
        ] {
            assert!(transient(message), "{message:?} should be transient");
        }
    }

    #[test]
    fn deterministic_errors_are_not_transient() {
        for message in [
            "Binder Error: Values list \"o\" does not have a column named \"no_such_column\"",
            "column \"x\" does not exist",
            "syntax error at or near \"selec\"",
            "permission denied for schema analytics",
            "002003 (42S02): SQL compilation error: Object 'X' does not exist or not authorized.",
            "Got 1 result, configured to fail if != 0",
            "Conversion Error: Could not convert string \"1000\" to 'DATE'",
            "Division by zero",
        ] {
            assert!(!transient(message), "{message:?} should not be transient");
        }
    }

    #[test]
    fn user_patterns_extend_the_built_in_ones_case_insensitively() {
        let patterns = TransientPatterns::with_extra(["Quota Exceeded", " "]);
        let found = patterns.find("ERROR: QUOTA EXCEEDED for project").unwrap();
        assert_eq!(found.warehouse, Warehouse::User);
        assert_eq!(found.pattern, "quota exceeded");
        assert!(patterns.find("nothing here").is_none());
    }
}
