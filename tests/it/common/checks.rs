//! Checks a console test runs over a page as it is: every control labelled, what axe-core
//! finds (WCAG 2.x A and AA), and whether the page scrolls sideways.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::browser::Page;

impl Page {
    /// Asserts that every visible form control on the page has a label a screen reader would
    /// read (a `<label for>`, an enclosing label, `aria-label` or `aria-labelledby`).
    pub(crate) async fn assert_labelled(&self) {
        let unlabelled: Vec<String> = self
            .eval(
                "[...document.querySelectorAll('input, select, textarea, button')]
                   .filter(e => e.offsetParent !== null)
                   .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                                && !e.getAttribute('aria-labelledby')
                                && !(e.tagName === 'BUTTON' && e.innerText.trim()))
                   .map(e => e.outerHTML.slice(0, 120))",
            )
            .await;
        assert!(
            unlabelled.is_empty(),
            "controls without a label: {unlabelled:#?}"
        );
    }

    /// How the page scrolls sideways, if it does: only a table's own scroll area may be wider
    /// than the viewport.
    pub(crate) async fn sideways_scroll(&self) -> Option<String> {
        let (page, viewport, widest): (i64, i64, String) = self
            .eval(
                "(() => { const d = document.documentElement;
                   const wide = [...document.querySelectorAll('body *')]
                     .filter(e => e.getBoundingClientRect().right > d.clientWidth + 1
                                  && !e.closest('.table-wrap') && e.offsetParent !== null)
                     .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + ' ' + Math.round(e.getBoundingClientRect().right));
                   return [d.scrollWidth, d.clientWidth, wide.slice(0, 5).join(', ')]; })()",
            )
            .await;
        (page > viewport)
            .then(|| format!("scrolls sideways at {viewport} px: {page} px wide ({widest})"))
    }

    /// What axe-core finds wrong with the page as it is now: violations of the WCAG 2.x A and
    /// AA rules and of axe's best practices, one line each.
    pub(crate) async fn accessibility_violations(&self) -> Vec<String> {
        let loaded: bool = self.eval("typeof axe !== 'undefined'").await;
        if !loaded {
            self.run_script(axe_source()).await;
        }
        self.eval(
                "axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(v =>
                   `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 4).map(n =>
                     n.target.join(' ') + ' ' + (n.failureSummary || '').replace(/\\s+/g, ' ')).join(' | ')}`))",
        )
        .await
    }
}

/// axe-core's script: `HERALD_AXE_JS`, else where `cargo xtask test` installs it.
fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = std::env::var_os("HERALD_AXE_JS")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../target/node-tools/node_modules/axe-core/axe.min.js")
            });
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "the console tests check pages with axe-core, read from {}: {e}; `cargo xtask \
                 test` installs it (or set HERALD_AXE_JS)",
                path.display()
            )
        })
    })
}
