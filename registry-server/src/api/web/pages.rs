//! The HTML of each page. maud escapes every interpolated string, so names, descriptions and
//! WIT text from publishers reach the page as text only.

use super::views::{IndexView, LogView, NotFoundView, PackageView, Page, VersionView};
use maud::{html, Markup, DOCTYPE};

fn layout(title: &str, query: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · wtool-registry" }
                link rel="stylesheet" href="/-/style.css";
                script src="/-/app.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "wtool-registry" }
                    nav aria-label="Site" {
                        a href="/" { "Packages" }
                        " "
                        a href="/log" { "Log" }
                    }
                    form.search role="search" action="/" method="get" {
                        label for="q" { "Search packages and interfaces" }
                        input #q type="search" name="q" value=(query.unwrap_or(""))
                            placeholder="logger, wasi:http/handler" autocomplete="off";
                        button type="submit" { "Search" }
                    }
                }
                div #live aria-live="polite" {}
                main #main { (body) }
            }
        }
    }
}

fn pager(base: &str, page: &Page) -> Markup {
    let sep = if base.contains('?') { '&' } else { '?' };
    html! {
        @if page.pages > 1 {
            nav.pager aria-label="Pages" {
                @if page.page > 1 {
                    a rel="prev" href={ (base) (sep) "page=" (page.page - 1) } { "← Previous" }
                }
                span { "Page " (page.page) " of " (page.pages) }
                @if page.page < page.pages {
                    a rel="next" href={ (base) (sep) "page=" (page.page + 1) } { "Next →" }
                }
            }
        }
    }
}

fn copyable(id: &str, label: &str, text: &str) -> Markup {
    html! {
        div.copy {
            span.label #{ (id) "-label" } { (label) }
            code #(id) { (text) }
            button type="button" data-copy=(id) aria-describedby={ (id) "-label" } { "Copy" }
        }
    }
}

pub(super) fn index(v: &IndexView) -> Markup {
    let title = match &v.query {
        Some(q) => format!("Search: {q}"),
        None => "Packages".to_string(),
    };
    let base = match &v.query {
        Some(q) => format!(
            "/?q={}",
            url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()
        ),
        None => "/".to_string(),
    };
    html! {
        (layout(&title, v.query.as_deref(), html! {
            h1 { (title) }
            @if v.query.is_none() && !v.namespaces.is_empty() {
                section aria-labelledby="ns-h" {
                    h2 #ns-h { "Namespaces" }
                    ul.namespaces {
                        @for ns in &v.namespaces {
                            li { (ns.name) " " span.muted { "(" (ns.packages) ")" } }
                        }
                    }
                }
            }
            section aria-labelledby="pkg-h" {
                h2 #pkg-h { (v.page.total) " packages" }
                @if v.packages.is_empty() {
                    p { "Nothing found." }
                }
                ul.packages #results {
                    @for p in &v.packages {
                        li {
                            a.name href={ "/" (p.name) } { (p.name) }
                            @if let Some(latest) = &p.latest { " " span.version { (latest) } }
                            @if let Some(d) = &p.description { p.description { (d) } }
                            @if !p.matched_interfaces.is_empty() {
                                p.matched { "Interfaces: "
                                    @for (i, m) in p.matched_interfaces.iter().enumerate() {
                                        @if i > 0 { ", " }
                                        code { (m) }
                                    }
                                }
                            }
                            p.muted {
                                (p.releases) " releases"
                                @if let Some(t) = &p.last_published { " · last published " time datetime=(t) { (t) } }
                            }
                        }
                    }
                }
                (pager(&base, &v.page))
            }
        }))
    }
}

pub(super) fn package(v: &PackageView) -> Markup {
    let base = format!("/{}", v.name);
    html! {
        (layout(&v.name, None, html! {
            h1 { (v.name) }
            @if let Some(d) = &v.meta.description { p.description { (d) } }
            dl.meta {
                @if let Some(latest) = &v.latest { dt { "Latest" } dd { a href={ "/" (v.name) "@" (latest) } { (latest) } } }
                @if let Some(l) = &v.meta.licenses { dt { "Licence" } dd { (l) } }
                @if let Some(s) = &v.meta.source { dt { "Source" } dd { (s) } }
                @if let Some(h) = &v.meta.homepage { dt { "Homepage" } dd { (h) } }
                dt { "OCI repository" } dd { code { (v.oci.repository) } }
            }
            section aria-labelledby="versions-h" {
                h2 #versions-h { "Versions" }
                div.scroll {
                    table.versions {
                        thead { tr { th scope="col" { "Version" } th scope="col" { "Published" } th scope="col" { "Size" } th scope="col" { "Digest" } th scope="col" { "Signed by" } } }
                        tbody {
                            @for r in &v.releases {
                                tr class=[r.yanked.then_some("yanked")] {
                                    td {
                                        a href={ "/" (v.name) "@" (r.version) } { (r.version) }
                                        @if r.yanked { " " strong.yank-mark title=[r.yanked_at.as_deref()] { "yanked" } }
                                    }
                                    td { time datetime=(r.published) { (r.published) } }
                                    td { @if let Some(s) = r.size { (s) " B" } }
                                    td { @if let Some(d) = &r.digest { code.digest { (d) } } }
                                    td { code.digest { (r.signed_by) } }
                                }
                            }
                        }
                    }
                }
                (pager(&base, &v.page))
            }
            @if !v.oci.tags.is_empty() {
                section aria-labelledby="oci-h" {
                    h2 #oci-h { "OCI tags" }
                    ul.tags {
                        @for t in &v.oci.tags {
                            li { code { (t.tag) } " → " code.digest { (t.manifest_digest) } }
                        }
                    }
                }
            }
        }))
    }
}

pub(super) fn version(v: &VersionView) -> Markup {
    let title = format!("{}@{}", v.name, v.version);
    let r = &v.release;
    html! {
        (layout(&title, None, html! {
            p.crumbs { a href={ "/" (v.name) } { (v.name) } " / " (v.version) }
            h1 { (title) @if r.yanked { " " strong.yank-mark { "yanked" } } }
            @if let Some(c) = &v.content {
                @if let Some(d) = &c.meta.description { p.description { (d) } }
            }
            dl.meta {
                dt { "Published" } dd { time datetime=(r.published) { (r.published) } }
                @if let Some(at) = &r.yanked_at { dt { "Yanked" } dd { (at) } }
                @if let Some(s) = r.size { dt { "Size" } dd { (s) " bytes" } }
                @if let Some(d) = &r.digest { dt { "Digest" } dd { code.digest { (d) } } }
                dt { "Signed by" } dd { code.digest { (r.signed_by) } }
                @if let Some(m) = &v.oci_manifest_digest { dt { "OCI manifest" } dd { code.digest { (m) } } }
                @if let Some(c) = &v.content {
                    dt { "Kind" } dd { (c.kind) }
                    @if let Some(l) = &c.meta.licenses { dt { "Licence" } dd { (l) } }
                    @if let Some(s) = &c.meta.source { dt { "Source" } dd { (s) } }
                }
            }
            section aria-labelledby="use-h" {
                h2 #use-h { "Use it" }
                (copyable("cmd-fetch", "wtool fetch", &v.commands.wtool_fetch))
                (copyable("cmd-compose", "wtool compose", &v.commands.wtool_compose))
                (copyable("cmd-wkg", "wkg get", &v.commands.wkg_get))
                (copyable("cmd-oci", "OCI reference", &v.commands.oci_reference))
            }
            @if !v.dependencies.is_empty() {
                section aria-labelledby="deps-h" {
                    h2 #deps-h { "Dependencies" }
                    ul.deps {
                        @for d in &v.dependencies {
                            li {
                                @let label = match &d.version { Some(ver) => format!("{}@{ver}", d.package), None => d.package.clone() };
                                @if let Some(href) = &d.href { a href=(href) { (label) } } @else { (label) }
                            }
                        }
                    }
                }
            }
            @if let Some(c) = &v.content {
                @if !c.worlds.is_empty() {
                    section aria-labelledby="worlds-h" {
                        h2 #worlds-h { "Worlds" }
                        @for w in &c.worlds {
                            h3 { (w.name) }
                            @if !w.imports.is_empty() {
                                p { "Imports" }
                                ul.items { @for i in &w.imports { li { code { (i) } } } }
                            }
                            @if !w.exports.is_empty() {
                                p { "Exports" }
                                ul.items { @for e in &w.exports { li { code { (e) } } } }
                            }
                        }
                    }
                }
                section aria-labelledby="wit-h" {
                    h2 #wit-h { "WIT" }
                    @if let Some(wit) = &c.wit {
                        pre.wit tabindex="0" { code #wit-text { (wit) } }
                    }
                    @if let Some(e) = &c.wit_error { p.error { (e) } }
                }
            } @else if r.yanked {
                p { "This release is yanked; its content is not shown." }
            }
        }))
    }
}

pub(super) fn log(v: &LogView) -> Markup {
    html! {
        (layout("Log", None, html! {
            h1 { "Log" }
            @if let Some(c) = &v.checkpoint {
                section aria-labelledby="cp-h" {
                    h2 #cp-h { "Checkpoint" }
                    dl.meta {
                        dt { "Log length" } dd #log-length { (c.log_length) }
                        dt { "Log root" } dd { code.digest { (c.log_root) } }
                        dt { "Map root" } dd { code.digest { (c.map_root) } }
                        dt { "Signed at" } dd { (c.timestamp) }
                        dt { "Key" } dd { code.digest { (c.key_id) } }
                        dt { "Signature" } dd { code.digest { (c.signature) } }
                    }
                }
            }
            section aria-labelledby="recent-h" {
                h2 #recent-h { "Recent records" }
                div.scroll {
                    table.records {
                        thead { tr { th scope="col" { "#" } th scope="col" { "Log" } th scope="col" { "Entries" } th scope="col" { "Time" } } }
                        tbody {
                            @for r in &v.recent {
                                tr {
                                    td { (r.registry_index) }
                                    td { @if let Some(p) = &r.package { a href={ "/" (p) } { (p) } } @else { "operator" } }
                                    td { (r.entries.join("; ")) }
                                    td { @if let Some(t) = &r.timestamp { (t) } }
                                }
                            }
                        }
                    }
                }
            }
        }))
    }
}

pub(super) fn not_found(v: &NotFoundView) -> Markup {
    html! {
        (layout("Not found", None, html! {
            h1 { "Not found" }
            p { (v.message) }
            @if let Some(s) = &v.suggestion {
                p #suggestion { "Did you mean " a href={ "/" (s) } { (s) } "?" }
            }
            p { a href="/" { "All packages" } }
        }))
    }
}

pub(super) fn login(next: &str, failed: bool) -> Markup {
    html! {
        (layout("Sign in", None, html! {
            h1 { "Sign in" }
            p { "This registry requires a token to read. Create one with "
                code { "wtool-registry token create" } "." }
            @if failed { p.error role="alert" { "That token is not valid." } }
            form.login method="post" action="/-/login" {
                input type="hidden" name="next" value=(next);
                label for="token" { "Read token" }
                input #token type="password" name="token" autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
        }))
    }
}
