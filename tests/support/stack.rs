//! The SAM template deployed into moto as CloudFormation would deploy it: SAM's translator,
//! then moto's CloudFormation (`deploy_stack.py`, run with the `sam` venv's python).

use crate::moto::{Moto, REGION};
use crate::repo_root;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A deployed stack, as `deploy_stack.py` reports it.
#[derive(Debug, Clone, Deserialize)]
pub struct Deployed {
    pub status: String,
    pub reason: Option<String>,
    /// Logical id -> physical id (only the resource types moto models).
    pub resources: BTreeMap<String, String>,
    /// Each Lambda function by logical id.
    pub functions: BTreeMap<String, DeployedFunction>,
    /// Each EventBridge rule's pattern by logical id, as deployed (moto keeps a `null` where
    /// the template's `!If` chose `AWS::NoValue` inside a list).
    pub rules: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DeployedFunction {
    pub name: String,
    /// Lambda's `CodeSha256`: base64 of the SHA-256 of the deployed zip.
    pub code_sha256: Option<String>,
    /// The function's environment, as it reads it.
    pub environment: BTreeMap<String, String>,
}

/// Where the function code comes from.
#[derive(Debug, Clone, Copy)]
pub enum Code<'a> {
    /// A zip whose `bootstrap` only says it is a placeholder (the test runs the binary).
    Placeholder,
    /// This zip, for every function with a local CodeUri.
    Zip(&'a Path),
    /// The template is packaged: its CodeUris are s3:// URIs already.
    Packaged,
}

/// The python of the sam venv (`python3 tests/fixtures/dbt_venv.py sam` makes it).
pub fn sam_python() -> PathBuf {
    let venvs = std::env::var_os("DBT_RERUN_VENVS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venvs"));
    assert!(
        venvs.join("sam/.installed").exists(),
        "the SAM CLI is not installed at {}: run `python3 tests/fixtures/dbt_venv.py sam` (scripts/test does)",
        venvs.join("sam").display()
    );
    venvs.join("sam/bin/python")
}

impl Moto {
    /// Deploys `template` as stack `stack` with `params`; panics with moto's or SAM's words
    /// when it cannot.
    pub fn deploy(
        &self,
        stack: &str,
        template: &Path,
        params: &[(&str, &str)],
        code: Code<'_>,
    ) -> Deployed {
        let mut command = std::process::Command::new(sam_python());
        command
            .arg(repo_root().join("tests/support/deploy_stack.py"))
            .args([self.endpoint.as_str(), REGION, stack])
            .arg(template)
            .args(params.iter().map(|(k, v)| format!("--param={k}={v}")));
        match code {
            Code::Placeholder => {
                command.arg("--placeholder-code");
            }
            Code::Zip(zip) => {
                command.arg(format!("--code={}", zip.display()));
            }
            Code::Packaged => {}
        }
        let out = command.output().expect("deploy_stack.py runs");
        assert!(
            out.status.success(),
            "deploying {} failed: {}",
            template.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let deployed: Deployed = serde_json::from_slice(&out.stdout).expect("deploy prints JSON");
        assert_eq!(deployed.status, "CREATE_COMPLETE", "{:?}", deployed.reason);
        deployed
    }
}
