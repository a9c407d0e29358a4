//! The one headless Chromium the console tests share, and a page wrapper that drives it the way a
//! person would (clicks and keystrokes through the DevTools protocol) while recording everything
//! the page logs as an error.
//!
//! Chromium runs as a child of a thread that lives as long as the test binary, with
//! `PR_SET_PDEATHSIG`, so it is killed when the binary exits however the tests end; each test
//! gets a browser context of its own (its own cookies), so tests run side by side.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chromiumoxide::Browser;
use chromiumoxide::cdp::browser_protocol::browser::BrowserContextId;
use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
use chromiumoxide::cdp::browser_protocol::log::EventEntryAdded;
use chromiumoxide::cdp::browser_protocol::page::EventJavascriptDialogOpening;
use chromiumoxide::cdp::browser_protocol::target::{
    CreateBrowserContextParams, CreateTargetParams,
};
use chromiumoxide::cdp::js_protocol::runtime::{EventConsoleApiCalled, EventExceptionThrown};
use chromiumoxide::page::ScreenshotParams;
use futures::StreamExt;

use super::eventually;

/// How long a page may take to show what a test waits for.
const PATIENCE: Duration = Duration::from_secs(15);

/// The Chromium binary: `HERALD_CHROMIUM`, else the first of the usual names on `PATH`.
fn chromium_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("HERALD_CHROMIUM") {
        return path.into();
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Some(path) = std::env::var_os("PATH")
            .map(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join(name))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .into_iter()
            .find(|p| p.is_file())
        {
            return path;
        }
    }
    panic!(
        "the console tests need Chromium: install Debian's `chromium` (`cargo xtask test` does) \
         or set HERALD_CHROMIUM"
    );
}

/// The shared browser, started on first use.
fn browser() -> &'static Browser {
    static SHARED: OnceLock<Browser> = OnceLock::new();
    SHARED.get_or_init(|| {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("chromium".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the browser");
                runtime.block_on(async move {
                    let profile = profile_dir();
                    let mut child = launch(&profile);
                    // Reaped if it ever exits early (it normally dies with the test binary).
                    std::thread::spawn(move || child.wait());
                    let url = devtools_url(&profile).await;
                    let (browser, mut handler) =
                        Browser::connect(url).await.expect("connects to Chromium");
                    sender
                        .send(browser)
                        .expect("the test waits for the browser");
                    // Drives the DevTools connection for as long as the tests run.
                    while handler.next().await.is_some() {}
                });
            })
            .expect("a thread for the browser");
        receiver.recv().expect("Chromium started")
    })
}

/// A fresh profile directory under the system temp dir (those of earlier runs whose process is
/// gone are removed first).
fn profile_dir() -> PathBuf {
    let base = std::env::temp_dir();
    for entry in std::fs::read_dir(&base).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if let Some(pid) = name.strip_prefix("herald-chromium-")
            && !Path::new("/proc").join(pid).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    let dir = base.join(format!("herald-chromium-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts headless Chromium on a free DevTools port; it dies with this thread's process.
fn launch(profile: &Path) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    let mut command = std::process::Command::new(chromium_binary());
    command
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-extensions",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-component-update",
            "--no-first-run",
            "--no-default-browser-check",
            "--mute-audio",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=0",
            "--window-size=1280,800",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: prctl is async-signal-safe; it only sets this child's parent-death signal.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    command.spawn().expect("Chromium starts")
}

/// Waits for Chromium to write its DevTools port and returns the browser's WebSocket URL.
async fn devtools_url(profile: &Path) -> String {
    let file = profile.join("DevToolsActivePort");
    let what = "Chromium to open its DevTools port";
    eventually(Duration::from_secs(30), what, async || {
        let text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
        let mut lines = text.lines();
        match (lines.next(), lines.next()) {
            (Some(port), Some(path)) => Ok(format!("ws://127.0.0.1:{port}{path}")),
            _ => Err(format!("the file holds {text:?}")),
        }
    })
    .await
}

/// A short pause before trying an element again (it was replaced as it was used).
async fn retry_pause() {
    tokio::time::sleep(Duration::from_millis(25)).await;
}

/// A page in a browser context of its own, with what it logged as errors.
pub(crate) struct Page {
    page: chromiumoxide::Page,
    context: BrowserContextId,
    base: String,
    errors: Arc<Mutex<Vec<String>>>,
    dialogs: Arc<Mutex<Vec<String>>>,
}

impl Page {
    /// A new page, 1280×800, at `base` (the server's URL).
    pub(crate) async fn open(base: &str) -> Self {
        let browser = browser();
        let context = browser
            .create_browser_context(CreateBrowserContextParams::default())
            .await
            .expect("a browser context");
        let page = browser
            .new_page(
                CreateTargetParams::builder()
                    .url("about:blank")
                    .browser_context_id(context.clone())
                    .build()
                    .unwrap(),
            )
            .await
            .expect("a page");
        page.execute(SetDeviceMetricsOverrideParams::new(1280, 800, 1.0, false))
            .await
            .unwrap();
        page.enable_log().await.unwrap();
        let errors = Arc::new(Mutex::new(Vec::new()));
        let dialogs = Arc::new(Mutex::new(Vec::new()));
        let mut console = page
            .event_listener::<EventConsoleApiCalled>()
            .await
            .unwrap();
        let mut exceptions = page.event_listener::<EventExceptionThrown>().await.unwrap();
        let mut log = page.event_listener::<EventEntryAdded>().await.unwrap();
        let mut opened = page
            .event_listener::<EventJavascriptDialogOpening>()
            .await
            .unwrap();
        let sink = errors.clone();
        tokio::spawn(async move {
            while let Some(call) = console.next().await {
                if format!("{:?}", call.r#type)
                    .to_lowercase()
                    .contains("error")
                {
                    sink.lock()
                        .unwrap()
                        .push(format!("console.error: {:?}", call.args));
                }
            }
        });
        let sink = errors.clone();
        tokio::spawn(async move {
            while let Some(thrown) = exceptions.next().await {
                sink.lock()
                    .unwrap()
                    .push(format!("exception: {:?}", thrown.exception_details));
            }
        });
        let sink = errors.clone();
        tokio::spawn(async move {
            while let Some(entry) = log.next().await {
                let level = format!("{:?}", entry.entry.level).to_lowercase();
                // A failed request the test caused on purpose (a 4xx the page handles) is logged
                // by Chromium as a network error; only the page's own errors count.
                let network = format!("{:?}", entry.entry.source).to_lowercase() == "network";
                if level == "error" && !network {
                    sink.lock()
                        .unwrap()
                        .push(format!("log: {}", entry.entry.text));
                }
            }
        });
        let sink = dialogs.clone();
        tokio::spawn(async move {
            while let Some(dialog) = opened.next().await {
                sink.lock().unwrap().push(dialog.message.clone());
            }
        });
        Self {
            page,
            context,
            base: base.trim_end_matches('/').to_string(),
            errors,
            dialogs,
        }
    }

    /// Goes to a console page (`#/automations`) or a path of the server.
    pub(crate) async fn goto(&self, path: &str) {
        if let Some(route) = path.strip_prefix("/#/") {
            // Within the console's page a new hash is a same-document navigation, which fires no
            // load event: wait for the router to say it rendered the page instead.
            let base = serde_json::to_string(&self.base).unwrap();
            let hash = serde_json::to_string(&format!("#/{route}")).unwrap();
            let route = serde_json::to_string(route).unwrap();
            let moved: bool = self
                .eval(&format!(
                    "location.origin === {base} && location.pathname === '/' && (location.hash = {hash}, true)"
                ))
                .await;
            if moved {
                self.until(
                    &format!("the page {route} rendered"),
                    &format!(
                        "(m => m.dataset.page === {route} && m.getAttribute('aria-busy') === 'false')(document.getElementById('main'))"
                    ),
                )
                .await;
                return;
            }
        }
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}/{}", self.base, path.trim_start_matches('/'))
        };
        self.page.goto(url).await.expect("navigates");
    }

    /// Runs a script in the page (a library the checks need), for its effects.
    pub(crate) async fn run_script(&self, script: &str) {
        self.page.evaluate(script).await.expect("the script runs");
    }

    /// The value of a JavaScript expression.
    pub(crate) async fn eval<T: serde::de::DeserializeOwned>(&self, expression: &str) -> T {
        self.page
            .evaluate(expression)
            .await
            .unwrap_or_else(|e| panic!("evaluating {expression}: {e}"))
            .into_value()
            .unwrap_or_else(|e| panic!("the value of {expression}: {e}"))
    }

    /// Waits until a JavaScript expression is true.
    pub(crate) async fn until(&self, what: &str, expression: &str) {
        let test = format!("!!({expression})");
        eventually(PATIENCE, what, async || {
            let holds = self.page.evaluate(test.as_str()).await.ok();
            match holds.and_then(|v| v.into_value::<bool>().ok()) {
                Some(true) => Ok(()),
                _ => Err(self.shown().await),
            }
        })
        .await
    }

    /// What the page shows, for a wait that gave up (nothing, while it navigates).
    async fn shown(&self) -> String {
        let text = self.page.evaluate("document.body.innerText").await.ok();
        let text = text.and_then(|v| v.into_value::<String>().ok());
        format!("the page showing:\n{}", text.unwrap_or_default())
    }

    /// Waits until the page's text contains `text`.
    pub(crate) async fn until_text(&self, text: &str) {
        let quoted = serde_json::to_string(text).unwrap();
        self.until(
            &format!("the text {quoted}"),
            &format!("document.body.innerText.includes({quoted})"),
        )
        .await;
    }

    /// The text of the first element `selector` matches (waiting for one).
    pub(crate) async fn text_of(&self, selector: &str) -> String {
        let quoted = serde_json::to_string(selector).unwrap();
        // Found and read in one evaluation: a page re-rendering (after Refresh, say) may replace
        // the element between two.
        let read = format!("(e => e ? '+' + e.innerText : '-')(document.querySelector({quoted}))");
        let what = format!("an element {selector}");
        eventually(PATIENCE, &what, async || {
            // Read without failing: the page may be between two renders.
            let read = self.page.evaluate(read.as_str()).await.ok();
            let read = read.and_then(|v| v.into_value::<String>().ok());
            match read.as_deref().and_then(|r| r.strip_prefix('+')) {
                Some(text) => Ok(text.to_string()),
                None => Err(self.shown().await),
            }
        })
        .await
    }

    /// Clicks the first element `selector` matches, once it is there and visible.
    pub(crate) async fn click(&self, selector: &str) {
        let quoted = serde_json::to_string(selector).unwrap();
        self.until(
            &format!("a visible {selector}"),
            &format!(
                "(e => e && e.offsetParent !== null && !e.disabled)(document.querySelector({quoted}))"
            ),
        )
        .await;
        // The page may re-render between finding the element and clicking it: find it again.
        let mut tries = 0;
        loop {
            let clicked = async {
                let element = self.page.find_element(selector).await?;
                element.scroll_into_view().await?;
                element.click().await?;
                Ok::<_, chromiumoxide::error::CdpError>(())
            }
            .await;
            match clicked {
                Ok(()) => return,
                Err(_) if tries < 20 => {
                    tries += 1;
                    retry_pause().await;
                }
                Err(e) => panic!("clicking {selector}: {e}"),
            }
        }
    }

    /// Clicks the visible button or link whose text is `label`.
    pub(crate) async fn click_text(&self, label: &str) {
        let quoted = serde_json::to_string(label).unwrap();
        let find = format!(
            "[...document.querySelectorAll('button, a')].find(e => e.offsetParent !== null && !e.disabled && e.innerText.trim() === {quoted})"
        );
        // Marks it so that a real click (not a script's) can be sent to it; marked again when
        // the page re-rendered it in between.
        let mark = format!(
            "(() => {{ document.querySelectorAll('[data-test-target]').forEach(e => e.removeAttribute('data-test-target')); const e = {find}; if (e) e.setAttribute('data-test-target', ''); return !!e; }})()"
        );
        let what = format!("a click on {label:?}");
        eventually(PATIENCE, &what, async || {
            self.until(&format!("a button {label:?}"), &find).await;
            if !self.eval::<bool>(&mark).await {
                return Err("it was re-rendered before it was marked".to_string());
            }
            let element = self.page.find_element("[data-test-target]").await;
            let element = element.map_err(|e| e.to_string())?;
            element
                .scroll_into_view()
                .await
                .map_err(|e| e.to_string())?;
            element.click().await.map(drop).map_err(|e| e.to_string())
        })
        .await
    }

    /// Waits until the console's router finished rendering the current page.
    pub(crate) async fn rendered(&self) {
        self.until(
            "the page to render",
            "document.getElementById('main').getAttribute('aria-busy') === 'false'",
        )
        .await;
    }

    /// Types into the field `selector` (replacing what it held) with real key presses.
    pub(crate) async fn type_into(&self, selector: &str, text: &str) {
        let quoted = serde_json::to_string(selector).unwrap();
        self.click(selector).await;
        self.eval::<bool>(&format!(
            "(e => {{ e.select && e.select(); return true; }})(document.querySelector({quoted}))"
        ))
        .await;
        let element = self.page.find_element(selector).await.unwrap();
        element.press_key("Backspace").await.unwrap();
        element.type_str(text).await.unwrap();
        let typed: String = self
            .eval(&format!("document.querySelector({quoted}).value"))
            .await;
        assert_eq!(typed, text, "typing into {selector}");
    }

    /// Sets a long field (JSON) at once and tells the page it changed, as pasting would.
    pub(crate) async fn paste_into(&self, selector: &str, text: &str) {
        let quoted = serde_json::to_string(selector).unwrap();
        let value = serde_json::to_string(text).unwrap();
        self.click(selector).await;
        self.eval::<bool>(&format!(
            "(e => {{ e.value = {value}; e.dispatchEvent(new Event('input', {{bubbles: true}})); return true; }})(document.querySelector({quoted}))"
        ))
        .await;
    }

    /// Chooses the option `value` of the select `selector`.
    pub(crate) async fn choose(&self, selector: &str, value: &str) {
        let quoted = serde_json::to_string(selector).unwrap();
        let value = serde_json::to_string(value).unwrap();
        self.click(selector).await;
        self.eval::<bool>(&format!(
            "(e => {{ e.value = {value}; e.dispatchEvent(new Event('change', {{bubbles: true}})); return e.value === {value}; }})(document.querySelector({quoted}))"
        ))
        .await;
    }

    /// Signs in with `key` through the sign-in form, with the keyboard alone (the key, then
    /// Enter).
    pub(crate) async fn sign_in(&self, key: &str) {
        self.goto("/").await;
        self.type_into("input[name=key]", key).await;
        let field = self.page.find_element("input[name=key]").await.unwrap();
        field.press_key("Enter").await.unwrap();
        self.until_text("Sign out").await;
        self.rendered().await;
    }

    /// Presses a key (`Tab`, `Enter`, `ArrowDown`, `l`, ...) on whatever has the focus, as a
    /// keyboard does.
    pub(crate) async fn press(&self, key: &str) {
        let body = self.page.find_element("body").await.expect("a body");
        body.press_key(key).await.expect("the key is pressed");
    }

    /// Types `text` into whatever has the focus, key by key.
    pub(crate) async fn keys(&self, text: &str) {
        let body = self.page.find_element("body").await.expect("a body");
        body.type_str(text).await.expect("the text is typed");
    }

    /// Presses Tab until the focused element satisfies `test` (a JavaScript function of the
    /// element), at most 60 times; returns how many presses it took.
    pub(crate) async fn tab_until(&self, what: &str, test: &str) -> usize {
        for presses in 1..=60 {
            self.press("Tab").await;
            if self
                .eval::<bool>(&format!("!!({test})(document.activeElement)"))
                .await
            {
                return presses;
            }
        }
        let at: String = self
            .eval("document.activeElement.outerHTML.slice(0, 120)")
            .await;
        panic!("60 presses of Tab never reached {what}; the focus is on {at}");
    }

    /// Sets the viewport's size in CSS pixels (as a phone's or a desktop's window).
    pub(crate) async fn resize(&self, width: i64, height: i64) {
        self.page
            .execute(SetDeviceMetricsOverrideParams::new(
                width,
                height,
                1.0,
                width < 600,
            ))
            .await
            .expect("the viewport resizes");
    }

    /// Saves a full-page screenshot as `target/screenshots/NAME.png`, and as
    /// `docs/screenshots/NAME.png` when `HERALD_UPDATE_SCREENSHOTS` is set (how the README's
    /// pictures are regenerated).
    pub(crate) async fn screenshot(&self, name: &str) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut targets = vec![root.join("target/screenshots")];
        if std::env::var_os("HERALD_UPDATE_SCREENSHOTS").is_some() {
            targets.push(root.join("docs/screenshots"));
        }
        let png = self
            .page
            .screenshot(ScreenshotParams::builder().full_page(true).build())
            .await
            .expect("a screenshot");
        for dir in targets {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
        }
    }

    /// Errors the page logged (script errors, console errors, CSP refusals).
    pub(crate) fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }

    /// Forgets the errors logged so far (those of a hostile page the test opened on purpose).
    pub(crate) fn forget_errors(&self) {
        self.errors.lock().unwrap().clear();
    }

    /// Dialogs (`alert`, `confirm`) a script opened.
    pub(crate) fn dialogs(&self) -> Vec<String> {
        self.dialogs.lock().unwrap().clone()
    }

    /// Closes the page and its context, asserting the page logged no error.
    pub(crate) async fn close(self) {
        let errors = self.errors();
        let _ = self.page.close().await;
        let _ = browser().dispose_browser_context(self.context).await;
        assert!(errors.is_empty(), "the page logged errors: {errors:#?}");
    }
}
