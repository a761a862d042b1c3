//! The browser client served by the binary (src/api/web.rs, docs/web-client.md): the page at `/` with a strict
//! Content-Security-Policy, every file of `web/` and of the SDK's cryptography (`sdk/typescript/src/crypto/`, at
//! `/app/sdk/`) byte for byte with its type, every module a served module imports served too, revalidation by
//! ETag, unknown files in our JSON error shape, and none of it in the OpenAPI document. The assets never touch the store, so these
//! run on one (SQLite) server rather than on both stores.

use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;

use crate::helpers::{Backend, assert_error, spawn_app};

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response.headers().get(name).unwrap_or_else(|| panic!("no {name} header")).to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_served_at_the_root_with_a_strict_content_security_policy() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "content-type"), "text/html; charset=utf-8");
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    let host = app.address.trim_start_matches("http://");
    let csp = header(&response, "content-security-policy").to_owned();
    for directive in [
        "default-src 'none'".to_owned(),
        "script-src 'self'".to_owned(),
        "style-src 'self'".to_owned(),
        format!("connect-src 'self' ws://{host} wss://{host}"),
        "frame-ancestors 'none'".to_owned(),
        "base-uri 'none'".to_owned(),
    ] {
        assert!(csp.split("; ").any(|d| d == directive), "{directive:?} missing from {csp}");
    }
    assert!(!csp.contains("unsafe") && !csp.contains('*') && !csp.contains("http"), "{csp}");
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"<script type="module" src="/app/app.js"></script>"#), "{page}");
    assert!(!page.contains("<script>") && !page.contains("style="), "no inline script or style: {page}");
}

/// The moderators' console (docs/admin.md, "The console") is the binary's too, at `/admin/`, under the same policy:
/// its modules from this origin only, nothing inline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_moderators_console_is_served_at_admin_with_the_same_policy() {
    let app = spawn_app(Backend::Sqlite).await;
    let response = app.client.get(app.url("/admin/")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "content-type"), "text/html; charset=utf-8");
    let csp = header(&response, "content-security-policy").to_owned();
    assert!(csp.split("; ").any(|d| d == "script-src 'self'") && !csp.contains("unsafe"), "{csp}");
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"<script type="module" src="/app/admin/console.js"></script>"#), "{page}");
    assert!(!page.contains("<script>") && !page.contains("style="), "no inline script or style: {page}");
}

/// Every file under `dir` but the Markdown notes, relative to it.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_none_or(|e| e != "md") {
                out.push(path.strip_prefix(root).unwrap().to_owned());
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    files.sort();
    files
}

/// What must be served, as (path under `/app/`, the file on disk): every file of `web/` and of the SDK's
/// cryptography, which every client of the SDK imports (the rest of the SDK is served as the page imports it,
/// which `every_module_a_served_module_imports_is_served_too` checks).
fn served_files() -> Vec<(String, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let web = root.join("web");
    let crypto = root.join("sdk/typescript/src/crypto");
    let mut files: Vec<(String, PathBuf)> =
        files_under(&web).into_iter().map(|f| (f.display().to_string(), web.join(f))).collect();
    files.extend(files_under(&crypto).into_iter().map(|f| (format!("sdk/crypto/{}", f.display()), crypto.join(f))));
    files
}

/// The relative module specifiers of a JavaScript source: `from './x.js'`, `import './x.js'`, `import('./x.js')`,
/// outside comments (a JSDoc `{import('./frames.js').Frame}` names a type, not a module to load). Comments are cut
/// naively (a `//` inside a string cuts the rest of its line), which only ever drops text after an import.
fn relative_imports(source: &str) -> Vec<String> {
    let mut code = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("/*") {
        code.push_str(&rest[..start]);
        rest = rest[start..].find("*/").map_or("", |end| &rest[start + end + 2..]);
    }
    code.push_str(rest);
    let code: String = code.lines().map(|line| line.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    let source = code.as_str();
    let mut found = Vec::new();
    for opener in ["from '", "from \"", "import '", "import \"", "import('", "import(\""] {
        let quote = opener.as_bytes()[opener.len() - 1] as char;
        for (at, _) in source.match_indices(opener) {
            let rest = &source[at + opener.len()..];
            let Some(end) = rest.find(quote) else { continue };
            let specifier = &rest[..end];
            if specifier.starts_with("./") || specifier.starts_with("../") {
                found.push(specifier.to_owned());
            }
        }
    }
    found
}

/// `specifier` resolved against the module at `from` (both under `/app/`), as a browser resolves a URL path.
fn resolve(from: &str, specifier: &str) -> String {
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for part in specifier.split('/') {
        match part {
            "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_file_of_the_web_client_is_served_byte_for_byte_with_its_type_and_revalidates_by_etag() {
    let app = spawn_app(Backend::Sqlite).await;
    let files = served_files();
    assert!(files.len() > 10, "{files:?}");
    assert!(files.iter().any(|(path, _)| path == "sdk/crypto/vendor/noble.js"), "{files:?}");
    for (path, on_disk) in files {
        let url = app.url(&format!("/app/{path}"));
        let response = app.client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{url}: add it to ASSETS in src/api/web.rs");
        let expected_type = match on_disk.extension().and_then(|e| e.to_str()) {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("html") => "text/html; charset=utf-8",
            Some("svg") => "image/svg+xml",
            None => "text/plain; charset=utf-8",
            Some(other) => panic!("{url}: no content type decided for .{other}"),
        };
        assert_eq!(header(&response, CONTENT_TYPE.as_str()), expected_type, "{url}");
        assert_eq!(header(&response, "cache-control"), "no-cache", "{url}");
        assert!(header(&response, "content-security-policy").starts_with("default-src 'none'"), "{url}");
        let etag = header(&response, "etag").to_owned();
        let body = response.bytes().await.unwrap();
        let on_disk = std::fs::read(&on_disk).unwrap();
        assert!(body.as_ref() == on_disk.as_slice(), "{url}: served bytes differ from the file");

        let again = app.client.get(&url).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{url}");
        assert_eq!(header(&again, "etag"), etag);
        assert!(again.bytes().await.unwrap().is_empty());
    }
}

/// The page loads as a graph of modules from `/app/app.js`: one import that is not served (a new SDK module the
/// page uses, or one that an SDK module starts to import) would break the page in the browser only. Walks the
/// graph over HTTP, as the browser does, and checks each module is its source file byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_module_a_served_module_imports_is_served_too() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut seen = std::collections::BTreeSet::from(["app.js".to_owned()]);
    let mut queue = vec!["app.js".to_owned()];
    while let Some(module) = queue.pop() {
        let response = app.client.get(app.url(&format!("/app/{module}"))).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "/app/{module}: add it to ASSETS in src/api/web.rs");
        let source = response.text().await.unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let on_disk = match module.strip_prefix("sdk/") {
            Some(sdk) => root.join("sdk/typescript/src").join(sdk),
            None => root.join("web").join(&module),
        };
        assert_eq!(source, std::fs::read_to_string(&on_disk).unwrap(), "/app/{module} is not {}", on_disk.display());
        for specifier in relative_imports(&source) {
            let target = resolve(&module, &specifier);
            if seen.insert(target.clone()) {
                queue.push(target);
            }
        }
    }
    for module in ["sdk/connection.js", "sdk/crypto/e2e.js", "sdk/crypto/vendor/noble.js", "views/chat.js"] {
        assert!(seen.contains(module), "{module} not reached from app.js: {seen:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_files_are_json_404s_and_the_client_stays_out_of_the_openapi_document() {
    let app = spawn_app(Backend::Sqlite).await;
    for path in [
        "/app/nope.js",
        "/app/",
        "/app/%2e%2e/Cargo.toml",
        "/app/sdk/crypto/vendor/VENDORED.md",
        "/app/sdk/%2e%2e/package.json",
        "/app/e2e.js",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_error(response, StatusCode::NOT_FOUND, "not_found").await;
    }
    let response = app.client.post(app.url("/")).send().await.unwrap();
    assert_error(response, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;

    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert!(paths.iter().all(|p| *p != "/" && !p.starts_with("/app")), "{paths:?}");
}
