//! How an execution ends: an [`Outcome`], or an [`ActionError`] whose variant decides whether
//! the host retries.

/// What a successful execution reports.
///
/// # Example
///
/// ```no_run
/// let outcome = herald_sdk::Outcome { summary: "queued as job 17".into(), status: Some(201) };
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// One line for the execution record.
    pub summary: String,
    /// The status of the response that settled it, if a request was made.
    pub status: Option<u16>,
}

impl Outcome {
    /// `delivered: <status>`.
    ///
    /// # Example
    ///
    /// ```no_run
    /// let outcome = herald_sdk::Outcome::delivered(200); // "delivered: 200"
    /// ```
    pub fn delivered(status: u16) -> Self {
        Self {
            summary: format!("delivered: {status}"),
            status: Some(status),
        }
    }

    /// A free-form summary, without a response status.
    ///
    /// # Example
    ///
    /// ```no_run
    /// let outcome = herald_sdk::Outcome::note("nothing to do: the alias is not production");
    /// ```
    pub fn note(summary: impl Into<String>) -> Self {
        Self {
            summary: summary.into(),
            status: None,
        }
    }
}

/// Why an execution failed; the variant decides whether the host retries.
///
/// # Example
///
/// ```no_run
/// use herald_sdk::ActionError;
///
/// fn check(status: u16) -> Result<(), ActionError> {
///     match status {
///         200..=299 => Ok(()),
///         404 => Err(ActionError::Rejected("no such channel".into())),
///         429 | 500.. => Err(ActionError::Transient {
///             message: format!("HTTP {status}"),
///             retry_after: Some("30".into()),
///         }),
///         _ => Err(ActionError::Invalid(format!("HTTP {status}"))),
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionError {
    /// The input can never work: never retried.
    Invalid(String),
    /// The receiver refused permanently: never retried.
    Rejected(String),
    /// Worth retrying, after the receiver's `Retry-After` if it gave one.
    Transient {
        /// Why the attempt failed.
        message: String,
        /// The receiver's `Retry-After` value, verbatim.
        retry_after: Option<String>,
    },
}

impl ActionError {
    /// A transient failure without a `Retry-After`.
    ///
    /// # Example
    ///
    /// ```no_run
    /// let error = herald_sdk::ActionError::transient("the service is restarting");
    /// ```
    pub fn transient(message: impl Into<String>) -> Self {
        Self::Transient {
            message: message.into(),
            retry_after: None,
        }
    }
}

impl std::fmt::Display for ActionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(m) => write!(f, "invalid: {m}"),
            Self::Rejected(m) => write!(f, "rejected: {m}"),
            Self::Transient { message, .. } => write!(f, "transient: {message}"),
        }
    }
}

impl std::error::Error for ActionError {}
