//! What can go wrong talking to the marketplace, as a typed enum.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// An `application/problem+json` body, as far as it could be read.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    #[serde(default)]
    pub status: u16,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub trace_id: Option<String>,
    #[serde(default)]
    pub errors: BTreeMap<String, Vec<String>>,
}

impl Problem {
    pub(crate) fn from_body(status: u16, body: &[u8]) -> Problem {
        let mut p: Problem = serde_json::from_slice(body).unwrap_or_default();
        p.status = status;
        if p.title.is_none() && p.detail.is_none() {
            // Not problem+json: keep a short excerpt of what came back.
            let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
            if !text.trim().is_empty() {
                p.detail = Some(text);
            }
        }
        p
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(t) = &self.title {
            write!(f, " {t}")?;
        }
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        for (field, msgs) in &self.errors {
            write!(f, " [{field}: {}]", msgs.join("; "))?;
        }
        if let Some(id) = &self.trace_id {
            write!(f, " (traceId {id})")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum OctopiaError {
    #[error("the marketplace refused the credentials of client {client_id}: {reason}")]
    Auth { client_id: String, status: Option<u16>, reason: String },
    #[error("the marketplace refused access: {0}")]
    Forbidden(Problem),
    #[error("not found on the marketplace: {0}")]
    NotFound(Problem),
    #[error("the marketplace rejected the request: {0}")]
    Rejected(Problem),
    #[error("the marketplace kept throttling (429) after {attempts} attempts")]
    Throttled { attempts: u32, problem: Option<Problem> },
    #[error("the marketplace is unavailable (HTTP {status}) after {attempts} attempts")]
    Unavailable { status: u16, attempts: u32, problem: Option<Problem> },
    #[error("the marketplace did not answer within {timeout:?}, {attempts} attempts")]
    Timeout { attempts: u32, timeout: Duration },
    #[error("cannot reach the marketplace after {attempts} attempts: {reason}")]
    Transport { attempts: u32, reason: String },
    #[error("the marketplace sent an unreadable response after {attempts} attempts: {reason}")]
    InvalidResponse { attempts: u32, reason: String },
    #[error("invalid marketplace configuration: {0}")]
    Config(String),
}

impl OctopiaError {
    /// Whether trying again later may succeed (a transient fault rather than a refusal).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            OctopiaError::Throttled { .. }
                | OctopiaError::Unavailable { .. }
                | OctopiaError::Timeout { .. }
                | OctopiaError::Transport { .. }
                | OctopiaError::InvalidResponse { .. }
        )
    }

    /// The problem details the marketplace sent, if any.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            OctopiaError::Forbidden(p) | OctopiaError::NotFound(p) | OctopiaError::Rejected(p) => Some(p),
            OctopiaError::Throttled { problem, .. } | OctopiaError::Unavailable { problem, .. } => problem.as_ref(),
            _ => None,
        }
    }
}
