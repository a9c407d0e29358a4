//! Escaping of client data for the text formats chat services render.

/// For Slack `mrkdwn` (and a message's top-level `text`): `&`, `<` and `>` as entities, as
/// Slack documents, so that `<!channel>`, `<@user>` or a link cannot be injected.
///
/// # Example
///
/// ```no_run
/// # fn f(invocation: herald_sdk::Invocation) {
/// let title = invocation.render_text("Run ${run_name} failed", herald_sdk::text::slack_mrkdwn);
/// # }
/// ```
pub fn slack_mrkdwn(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// For Markdown as Microsoft Teams renders it (connector cards with `"markdown": true`, and
/// Adaptive Card `TextBlock` and `FactSet` text): the marks that make emphasis, code and links
/// escaped with a backslash, and `<`, `>` and `&` as entities (connector cards also render
/// HTML, and `<at>` makes a mention).
///
/// # Example
///
/// ```no_run
/// # fn f(invocation: herald_sdk::Invocation) {
/// let title = invocation.render_text("**${artifact_version_string}** promoted", herald_sdk::text::teams_markdown);
/// # }
/// ```
pub fn teams_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// No escaping: for plain-text fields (Slack `plain_text`).
///
/// # Example
///
/// ```no_run
/// # fn f(invocation: herald_sdk::Invocation) {
/// let title = invocation.render_text("${automation_name}", herald_sdk::text::plain);
/// # }
/// ```
pub fn plain(text: &str) -> String {
    text.to_string()
}
