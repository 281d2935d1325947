//! Which warehouse errors are worth the same query again a little later.
//!
//! Patterns are case-insensitive substrings of dbt's error message, in two lists:
//!
//! - **Transient** errors go away on their own: connections dropped, refused or timed out
//!   while connecting, reads cut short by a dropped socket, servers restarting or out of
//!   connection slots, sessions that expired, serialization and lock conflicts between
//!   concurrent writers (catalog rows included), throttling, and services answering "unavailable"
//!   (HTTP 502/503/504, gRPC `UNAVAILABLE`). They follow what each adapter's own retry logic and
//!   the community's lists (Elementary, dbt adapters' `retry_on_database_errors`) treat as
//!   transient, checked against real messages (`tests/fixtures/transient_messages.tsv`).
//! - **Timeouts**: a statement or job cancelled at a time limit (Snowflake 000630, Postgres
//!   `statement_timeout`, Redshift, BigQuery job timeouts) or cancelled on request, which is how
//!   Redshift and client-side timeouts report a limit. Arguable: the same query may well run
//!   as long again. They get their own class, `timeout`, which the default policy does not
//!   re-run (`DBT_RERUN_RETRY_ON=...,timeout` opts in).
//!
//! A deterministic error (missing column, bad SQL, permission denied, bad credentials) must
//! never match. A pattern names an error class, not one user's message; a wrapper that names
//! no cause ("Failed to connect to DB", "Error during request to server") is not a pattern:
//! its cause, when it is transient, is matched on its own. Some wrappers that are patterns
//! (urllib3's "Max retries exceeded") also carry causes that are setup, not weather: those
//! causes (`NOT_TRANSIENT`) make a message not transient whatever else it says.
//!
//! Order: the user's patterns (`DBT_RERUN_TRANSIENT_PATTERNS`, transient: they win), then the
//! causes that are never transient, then the timeouts (a statement that hit its limit stays a
//! timeout whatever else the message says: SQL Server's "Query timeout expired" is not libpq's
//! connect "timeout expired"), then the transient errors.

use crate::policy::RetryClass;

/// The warehouse a pattern comes from, for the record's explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warehouse {
    /// Errors any driver or network path gives.
    Any,
    /// PostgreSQL (dbt-postgres, libpq's messages).
    Postgres,
    /// Amazon Redshift (dbt-redshift).
    Redshift,
    /// Snowflake (dbt-snowflake).
    Snowflake,
    /// Google BigQuery (dbt-bigquery).
    BigQuery,
    /// Databricks (dbt-databricks).
    Databricks,
    /// DuckDB (dbt-duckdb).
    DuckDb,
    /// Amazon Athena (dbt-athena).
    Athena,
    /// Trino (dbt-trino).
    Trino,
    /// SQL Server, Azure SQL and Fabric (TDS drivers).
    SqlServer,
    /// ClickHouse (dbt-clickhouse).
    ClickHouse,
    /// From `DBT_RERUN_TRANSIENT_PATTERNS`.
    User,
}

/// Errors that go away on their own: class `transient`.
const TRANSIENT: &[(Warehouse, &[&str])] = &[
    (
        Warehouse::Any,
        &[
            // Connections reset, refused, aborted or timed out at the socket (OS and urllib3
            // messages), ODBC's lost link (SQLSTATE 08S01), and the resolver failing to answer
            // (EAI_AGAIN; not a name that does not exist, see NOT_TRANSIENT). Not a bare TLS
            // "EOF occurred in violation of protocol": a proxy that cannot speak TLS says it
            // on every run.
            "connection reset by peer",
            "connection refused",
            "connection timed out",
            "connection aborted",
            "broken pipe",
            "timed out while connecting",
            "communication link failure",
            "temporary failure in name resolution",
            "network is unreachable",
            "remote end closed connection",
            "max retries exceeded",
            // An HTTP read that timed out (urllib3) and a gRPC deadline: one network call's
            // limit, not the query's.
            "read timed out",
            "deadline exceeded",
            "deadline_exceeded",
            // Gateways and services answering "unavailable", in the forms clients print:
            // the status line, `HTTP 503`, Thrift's and Databricks' "status/response code:
            // 503" (a status is three digits, so nothing longer matches), google-api-core's
            // `503 GET https://...`, and gRPC's UNAVAILABLE text.
            "502 bad gateway",
            "503 service unavailable",
            "504 gateway timeout",
            "http 503",
            "http error 503",
            "http status: 503",
            "status code: 503",
            "response code: 503",
            "503 get https://",
            "503 post https://",
            "service is currently unavailable",
            // Throttling, and object storage (S3 and compatible) asking for fewer requests:
            // the SlowDown message as S3 and MinIO word it, and DuckDB's httpfs status.
            "too many requests",
            "throttl",
            "rate exceeded",
            "please reduce your request rate",
            "503 (slow down)",
        ],
    ),
    (
        Warehouse::Postgres,
        &[
            // Connections lost or refused (libpq, psycopg2); libpq's `connect_timeout`
            // ("connection to server at ... failed: timeout expired"; not Redshift's own
            // "error:  timeout expired" from a call it makes while planning).
            "could not connect to server",
            "could not receive data from server",
            "could not send data to server",
            "server closed the connection unexpectedly",
            "ssl syscall error",
            "ssl connection has been closed unexpectedly",
            "eof detected",
            "failed: timeout expired",
            // The server going away or coming back: terminated backends (pg_terminate_backend,
            // shutdown), restarts, recovery, a crash of another backend.
            "terminating connection due to administrator command",
            "terminating connection because of crash of another server process",
            "the database system is starting up",
            "the database system is shutting down",
            "the database system is in recovery mode",
            "the database system is not yet accepting connections",
            // Out of connection slots, PgBouncer's client limit included.
            "too many connections",
            "too many clients already",
            "remaining connection slots are reserved",
            "no more connections allowed",
            // Conflicts between concurrent transactions: serialization, deadlocks, locks
            // (lock_timeout, NOWAIT).
            "could not serialize access",
            "deadlock detected",
            // A hot standby cancelling a query that needed rows vacuum removed.
            "due to conflict with recovery",
            "canceling statement due to lock timeout",
            "lock not available",
            "could not obtain lock on relation",
            // Catalog concurrency: a system row updated by a concurrent transaction (GRANT,
            // CREATE OR REPLACE), a relation dropped under a running catalog query, two
            // sessions creating the same schema, type or relation at once (a unique violation
            // on a system catalog index, all named `pg_...`).
            "tuple concurrently updated",
            "could not open relation with oid",
            "violates unique constraint \"pg_",
        ],
    ),
    (
        Warehouse::Redshift,
        &[
            // Conflicts between concurrent transactions (error 1023), tables dropped under them.
            "serializable isolation violation",
            "conflict with concurrent transaction",
            "error: 1023",
            "dropped by concurrent transaction",
            // Connections lost: JDBC, redshift_connector's InterfaceError and BrokenPipe, and
            // its read of a message cut short by a closed socket (`struct.error`).
            "connection is lost",
            "communication error",
            "server socket closed",
            "unpack_from requires a buffer",
            "connection to the cluster",
            "cluster is currently unavailable",
            // Serverless cancelling a query while it restores the session on another node
            // (the routine the error names); the same query runs on the next attempt.
            "nftsetupsessionstateonrestore",
        ],
    ),
    (
        Warehouse::Snowflake,
        &[
            // Service-side failures and a warehouse resuming. (Not "250001 (08001): Failed to
            // connect to DB", which wraps bad credentials and account names as much as network
            // failures, nor "Could not connect to Snowflake backend after N attempt(s)", said
            // after the connector's own retries without a cause.)
            "snowflake internal error",
            "is being resumed",
            // Too many statements waiting for one table's lock (000625).
            "000625 (57014)",
            "number of waiters for this lock exceeds",
            "this lock has not yet been released",
            // The session expired during a long run (390114, 252007, 390111): a new run logs in
            // again.
            "authentication token has expired",
            "session no longer exists",
        ],
    ),
    (
        Warehouse::BigQuery,
        &[
            // Rate limits, and the quotas on jobs at once (queued, concurrent), which drain as
            // running jobs finish. Not the other quotas: a daily quota is still exhausted
            // minutes later.
            "ratelimitexceeded",
            "exceeded rate limits",
            "jobratelimitexceeded",
            "exceeded quota for max number of jobs that can be queued",
            "exceeded quota for concurrent",
            // Backend errors, which BigQuery itself says a retry may solve.
            "backenderror",
            "internalerror",
            "an internal error occurred",
            "the job encountered an internal error",
            "retrying may solve the problem",
            "retrying the job may solve the problem",
            // Concurrent DML on one table: conflicts, and the queue of pending statements full.
            "could not serialize access to table",
            "transaction is aborted due to concurrent update",
            "too many dml statements outstanding",
            "service unavailable",
        ],
    ),
    (
        Warehouse::Databricks,
        &[
            // The service or cluster not ready, starting, or failing to boot its nodes
            // (termination code SELF_BOOTSTRAP_FAILURE).
            "temporarily_unavailable",
            "the cluster is not ready",
            "cluster is starting",
            "error starting terminated cluster",
            "self-bootstrap failure",
            "self_bootstrap_failure",
            // API rate limits (the token bucket, the workspace's concurrent requests).
            "request_limit_exceeded",
            "exceeded the concurrent limit of",
            // Delta's conflicts between concurrent writers.
            "concurrentappendexception",
            "concurrentdeletereadexception",
            "concurrentdeletedeleteexception",
            "concurrenttransactionexception",
            "metadatachangedexception",
            "protocolchangedexception",
            // SQLSTATEs of a lost connection: communication link failure, connection failure.
            // (Not all of class 08: 08001 and 08004 are also refused logins.)
            "sqlstate: 08s01",
            "sqlstate: 08006",
        ],
    ),
    (
        Warehouse::DuckDb,
        &[
            // The database file locked by another process (Unix and Windows wording), and
            // conflicts between concurrent transactions.
            "could not set lock on file",
            "conflicting lock is held",
            "file is already open in",
            "being used by another process",
            "write-write conflict",
            "transaction conflict",
        ],
    ),
    (
        Warehouse::Athena,
        &[
            // Too many concurrent queries for the account; an Iceberg commit that lost to a
            // concurrent one (AWS: retry with backoff).
            "toomanyrequestsexception",
            "iceberg_commit_error",
        ],
    ),
    (
        Warehouse::Trino,
        &[
            // A worker crashed or overloaded ("This is probably a transient issue").
            "encountered too many errors talking to a worker node",
        ],
    ),
    (
        Warehouse::SqlServer,
        &[
            // Deadlock victims (1205, "Rerun the transaction"), snapshot isolation conflicts
            // with a concurrent writer (3960) or concurrent DDL (3961, Fabric), a database
            // paused, failing over or resuming (40613), and a connection dropped mid-read.
            "chosen as the deadlock victim",
            "snapshot isolation transaction aborted due to update conflict",
            "modified by a ddl statement in another concurrent transaction",
            "please retry the connection later",
            "a transport-level error has occurred",
            // ODBC's connect timeout (HYT00 while logging in; "Query timeout expired" is the
            // statement's, a timeout).
            "login timeout expired",
        ],
    ),
    (
        Warehouse::ClickHouse,
        &[
            // Too many queries at once (202), and the network errors by their code names.
            "too many simultaneous queries",
            "(network_error)",
            "(socket_timeout)",
        ],
    ),
];

/// Causes that are setup, not weather: not transient even inside a transient wrapper ("Max
/// retries exceeded ... (Caused by SSLError(... certificate verify failed ...))").
const NOT_TRANSIENT: &[&str] = &[
    // A TLS trust store or proxy that does not trust the server: fixed by configuration.
    "certificate verify failed",
    // The resolver answered that the name does not exist (glibc's EAI_NONAME): a mistyped or
    // unreachable host name. A resolver that could not answer says "Temporary failure".
    "name or service not known",
];

/// Statements and jobs cancelled at a time limit, or on request (how Redshift reports its
/// `statement_timeout`, and how client-side timeouts cancel): class `timeout`, not re-run by
/// default.
const TIMEOUTS: &[(Warehouse, &[&str])] = &[
    (
        Warehouse::Any,
        // ODBC's statement timeout (HYT00, e.g. SQL Server).
        &["query timeout expired"],
    ),
    (
        Warehouse::Postgres,
        &[
            "canceling statement due to statement timeout",
            "canceling statement due to user request",
        ],
    ),
    (
        Warehouse::Redshift,
        // statement_timeout and cancels; a WLM query monitoring rule's abort.
        &[
            "cancelled on user's request",
            "cancelled by wlm abort action",
        ],
    ),
    (
        Warehouse::Snowflake,
        &[
            // STATEMENT_TIMEOUT_IN_SECONDS or STATEMENT_QUEUED_TIMEOUT_IN_SECONDS.
            "000630 (57014)",
            "statement reached its statement or warehouse timeout",
            // SQL execution canceled: by the client (its timeout) or a person.
            "000604 (57014)",
        ],
    ),
    (
        Warehouse::BigQuery,
        &[
            // dbt-bigquery's job_execution_timeout_seconds (the client stops waiting).
            "did not complete within the designated timeout",
            // jobTimeoutMs, or a cancelled job.
            "job execution was cancelled",
        ],
    ),
    (Warehouse::Databricks, &["query_execution_timeout_exceeded"]),
];

/// The set of patterns in force: the built-in lists plus the user's.
#[derive(Debug, Clone, Default)]
pub struct TransientPatterns {
    /// Extra patterns, lower-cased.
    user: Vec<String>,
}

/// A known error recognised in a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorMatch {
    /// `Transient` or `Timeout`.
    pub class: RetryClass,
    /// The warehouse the matching pattern is written for.
    pub warehouse: Warehouse,
    /// The pattern that matched, as written (a user's as given).
    pub pattern: String,
}

impl TransientPatterns {
    /// The built-in patterns plus `extra` (case-insensitive substrings; empty ones ignored).
    pub(crate) fn with_extra<I, S>(extra: I) -> Self
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

    /// The first pattern `message` contains, if any: the user's, then (unless a cause that is
    /// never transient is named) the timeouts, then the transient errors.
    pub fn find(&self, message: &str) -> Option<ErrorMatch> {
        let message = message.to_lowercase();
        if let Some(p) = self.user.iter().find(|p| message.contains(p.as_str())) {
            return Some(ErrorMatch {
                class: RetryClass::Transient,
                warehouse: Warehouse::User,
                pattern: p.clone(),
            });
        }
        if NOT_TRANSIENT.iter().any(|p| message.contains(p)) {
            return None;
        }
        [
            (RetryClass::Timeout, TIMEOUTS),
            (RetryClass::Transient, TRANSIENT),
        ]
        .into_iter()
        .find_map(|(class, lists)| {
            lists.iter().find_map(|(warehouse, patterns)| {
                patterns
                    .iter()
                    .find(|p| message.contains(*p))
                    .map(|p| ErrorMatch {
                        class,
                        warehouse: *warehouse,
                        pattern: (*p).to_owned(),
                    })
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(message: &str) -> Option<RetryClass> {
        TransientPatterns::default().find(message).map(|m| m.class)
    }

    #[test]
    fn each_warehouses_transient_errors_are_recognised() {
        for message in [
            // Postgres / Redshift (psycopg2, redshift_connector)
            "Database Error in model x\n  SSL SYSCALL error: EOF detected",
            "could not connect to server: Connection refused\n\tIs the server running",
            "server closed the connection unexpectedly\n\tThis probably means the server terminated",
            "connection to server at \"h\" (10.0.0.1), port 5439 failed: timeout expired",
            "ERROR: could not serialize access due to concurrent update",
            "ERROR: 1023 DETAIL: Serializable isolation violation on table - 123",
            "deadlock detected",
            "tuple concurrently updated",
            "duplicate key value violates unique constraint \"pg_class_relname_nsp_index\"",
            "FATAL:  sorry, too many clients already",
            "BrokenPipe: server socket closed. Please check that client side networking",
            // Snowflake
            "000625 (57014): Statement 'x' has locked table 'T' in transaction 1 and this lock has not yet been released.",
            "390114 (08001): Authentication token has expired. The user must authenticate again.",
            // (Not "Could not connect to Snowflake backend after N attempt(s)": said after the
            // connector's own retries and naming no cause, it was a setup problem each time
            // the labelled set shows it.)
            // BigQuery
            "Exceeded rate limits: too many table update operations for this table",
            "Retrying may solve the problem.",
            "503 GET https://bigquery.googleapis.com/bigquery/v2/projects/p/jobs/j: unavailable",
            // Databricks
            "[DELTA_CONCURRENT_APPEND] ConcurrentAppendException: Files were added",
            "TEMPORARILY_UNAVAILABLE: the service is temporarily unavailable",
            "Query could not be scheduled: HTTP Response code: 503. Please try again later.",
            // DuckDB, and object storage asking for fewer requests
            "IO Error: Could not set lock on file \"x.duckdb\": Conflicting lock is held",
            "Unable to connect to URL \"s3://b/k.gz\": 503 (Slow Down)",
            "AmazonS3Exception: Please reduce your request rate. (Service: Amazon S3; Status Code: 503; Error Code: SlowDown)",
            // SQL Server / Azure SQL / Fabric
            "Transaction (Process ID 66) was deadlocked on lock resources with another process and has been chosen as the deadlock victim. Rerun the transaction.",
            "Database 'd' on server 's' is not currently available.  Please retry the connection later.",
            "[Microsoft][ODBC Driver 17 for SQL Server]Login timeout expired (0)",
            // ClickHouse
            "Code: 202. DB::Exception: Too many simultaneous queries. Maximum: 100. (TOO_MANY_SIMULTANEOUS_QUERIES)",
            // Any
            "HTTPSConnectionPool(host='x', port=443): Max retries exceeded with url",
            "HTTPSConnectionPool(host='x', port=443): Read timed out. (read timeout=60)",
            "Rate exceeded (Service: Glue, Status Code: 400, Request ID: 1)",
        ] {
            assert_eq!(
                class(message),
                Some(RetryClass::Transient),
                "{message:?} should be transient"
            );
        }
    }

    #[test]
    fn statement_and_job_timeouts_are_their_own_class() {
        for message in [
            "000630 (57014): Statement reached its statement or warehouse timeout of 120 second(s) and was canceled.",
            "000604 (57014): SQL execution was cancelled by the client due to a timeout",
            "ERROR: canceling statement due to statement timeout",
            "ERROR: Query (4777555) cancelled on user's request",
            "Operation did not complete within the designated timeout",
            "Job execution was cancelled: Job timed out after 30 sec",
            "[QUERY_EXECUTION_TIMEOUT_EXCEEDED] Query execution was cancelled due to exceeding the timeout",
            // A statement timeout, though libpq's connect timeout also says "timeout expired".
            "[Microsoft][ODBC Driver 18 for SQL Server]Query timeout expired",
        ] {
            assert_eq!(
                class(message),
                Some(RetryClass::Timeout),
                "{message:?} should be a timeout"
            );
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
            "duplicate key value violates unique constraint \"orders_pkey\"",
            // Snowflake's "Failed to connect to DB" wraps refused logins as much as network
            // failures: it used to match (250001 (08001)) and re-ran bad credentials.
            "250001 (08001): Failed to connect to DB: xy.snowflakecomputing.com:443. Incorrect username or password was specified.",
            // SQLSTATE 08004, the server refusing the connection: a login, not the network.
            "[Snowflake] 390144 (08004): JWT token is invalid. (SQLSTATE: 08004, Vendor code: 390144)",
            // Setup inside a transient wrapper: an untrusted certificate, a host name that does
            // not exist.
            "HTTPSConnectionPool(host='h', port=443): Max retries exceeded with url: /x (Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in certificate chain')))",
            "could not translate host name \"db\" to address: Name or service not known",
            // Redshift's own "timeout expired" from a catalog call, not libpq's connect timeout.
            "{'S': 'ERROR', 'C': 'XX000', 'M': 'error:  timeout expired code: 25300', 'R': 'localize_external_table'}",
            // Quotas that do not drain in minutes.
            "Warehouse 'W' cannot be resumed because resource monitor 'M' has exceeded its quota.",
            "Quota exceeded: Your project exceeded quota for free query bytes scanned.",
        ] {
            assert_eq!(class(message), None, "{message:?} should not be transient");
        }
    }

    #[test]
    fn a_setup_cause_outweighs_a_transient_wrapper_but_not_the_users_patterns() {
        let message = "HTTPSConnectionPool(host='h', port=443): Max retries exceeded with url: / \
                       (Caused by SSLError(SSLCertVerificationError(1, '[SSL: \
                       CERTIFICATE_VERIFY_FAILED] certificate verify failed')))";
        assert_eq!(class(message), None);
        let found = TransientPatterns::with_extra(["Certificate verify failed"])
            .find(message)
            .unwrap();
        assert_eq!(
            (found.class, found.warehouse),
            (RetryClass::Transient, Warehouse::User)
        );
    }

    #[test]
    fn user_patterns_extend_the_built_in_ones_case_insensitively_and_win() {
        let patterns = TransientPatterns::with_extra(["Quota Exceeded", " ", "statement timeout"]);
        let found = patterns.find("ERROR: QUOTA EXCEEDED for project").unwrap();
        assert_eq!(
            (found.class, found.warehouse, found.pattern.as_str()),
            (RetryClass::Transient, Warehouse::User, "quota exceeded")
        );
        assert!(patterns.find("nothing here").is_none());
        let promoted = patterns
            .find("canceling statement due to statement timeout")
            .unwrap();
        assert_eq!(
            (promoted.class, promoted.warehouse),
            (RetryClass::Transient, Warehouse::User),
            "a user's pattern makes a timeout transient"
        );
    }
}
