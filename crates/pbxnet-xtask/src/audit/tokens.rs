//! Paths as written in the source: the leaves of `use` trees and the
//! `a::b::c` runs of a token stream (which also reaches into macro bodies,
//! where syn sees only tokens), each with the line it starts on.

use proc_macro2::{Spacing, Span, TokenStream, TokenTree};
use syn::UseTree;

/// A path as written: its segments and the line of its first segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WrittenPath {
    pub(crate) segments: Vec<String>,
    pub(crate) line: usize,
    /// `use a::b::*`: every item of the module `a::b`.
    pub(crate) glob: bool,
    /// The name a `use` leaf is bound to (`use a::b as c` binds `c`).
    pub(crate) binds: Option<String>,
}

/// The line a span starts on (1-based; needs proc-macro2's span-locations).
pub(crate) fn line_of(span: Span) -> usize {
    span.start().line
}

/// Every leaf of a `use` tree, with the group braces expanded.
pub(crate) fn use_leaves(tree: &UseTree) -> Vec<WrittenPath> {
    let mut out = Vec::new();
    walk_use(tree, &mut Vec::new(), &mut out);
    out
}

fn walk_use(tree: &UseTree, prefix: &mut Vec<(String, usize)>, out: &mut Vec<WrittenPath>) {
    match tree {
        UseTree::Path(p) => {
            prefix.push((p.ident.to_string(), line_of(p.ident.span())));
            walk_use(&p.tree, prefix, out);
            prefix.pop();
        }
        UseTree::Name(n) => leaf(prefix, &n.ident, None, out),
        UseTree::Rename(r) => leaf(prefix, &r.ident, Some(r.rename.to_string()), out),
        UseTree::Glob(g) => {
            let line = prefix.first().map_or(line_of(g.star_token.span), |s| s.1);
            out.push(WrittenPath {
                segments: prefix.iter().map(|s| s.0.clone()).collect(),
                line,
                glob: true,
                binds: None,
            });
        }
        UseTree::Group(g) => {
            for item in &g.items {
                walk_use(item, prefix, out);
            }
        }
    }
}

/// `name` ends a `use` path; `use a::b::{self}` binds `b` to `a::b`.
fn leaf(
    prefix: &[(String, usize)],
    name: &syn::Ident,
    rename: Option<String>,
    out: &mut Vec<WrittenPath>,
) {
    let mut segments: Vec<String> = prefix.iter().map(|s| s.0.clone()).collect();
    if name != "self" {
        segments.push(name.to_string());
    }
    let Some(last) = segments.last().cloned() else {
        return;
    };
    let line = prefix.first().map_or(line_of(name.span()), |s| s.1);
    out.push(WrittenPath {
        segments,
        line,
        glob: false,
        binds: Some(rename.unwrap_or(last)),
    });
}

/// Every maximal `ident (:: ident)*` run in `tokens`, groups included.
pub(crate) fn token_paths(tokens: TokenStream) -> Vec<WrittenPath> {
    let mut out = Vec::new();
    scan(tokens, &mut out);
    out
}

fn scan(tokens: TokenStream, out: &mut Vec<WrittenPath>) {
    let mut run: Vec<(String, usize)> = Vec::new();
    // `after_separator`: the last tokens were `::`, so an identifier extends
    // the run; `half_separator`: the last token was a joint `:`.
    let mut after_separator = false;
    let mut half_separator = false;
    for tree in tokens {
        match tree {
            TokenTree::Ident(ident) => {
                if !after_separator {
                    flush(&mut run, out);
                }
                run.push((ident.to_string(), line_of(ident.span())));
                after_separator = false;
                half_separator = false;
            }
            TokenTree::Punct(p) if p.as_char() == ':' => {
                if half_separator {
                    after_separator = true;
                    half_separator = false;
                } else if p.spacing() == Spacing::Joint {
                    half_separator = true;
                } else {
                    flush(&mut run, out);
                    after_separator = false;
                }
            }
            TokenTree::Group(group) => {
                flush(&mut run, out);
                after_separator = false;
                half_separator = false;
                scan(group.stream(), out);
            }
            TokenTree::Punct(_) | TokenTree::Literal(_) => {
                flush(&mut run, out);
                after_separator = false;
                half_separator = false;
            }
        }
    }
    flush(&mut run, out);
}

fn flush(run: &mut Vec<(String, usize)>, out: &mut Vec<WrittenPath>) {
    if let Some(first) = run.first() {
        out.push(WrittenPath {
            segments: run.iter().map(|s| s.0.clone()).collect(),
            line: first.1,
            glob: false,
            binds: None,
        });
    }
    run.clear();
}
