//! Sizes outside tests: a file's lines without its `#[cfg(test)]` items,
//! and each function's lines from its signature to its closing brace (doc
//! comments and attributes not counted; nested functions and closures count
//! in the function that holds them, and nested functions also on their own).

use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Block, Item, Signature};

use super::tokens::line_of;
use super::tree::{is_test_only, item_attrs};

/// Lines of `text` outside the test items of `syntax`.
pub(crate) fn lines_outside_tests(text: &str, syntax: &syn::File) -> usize {
    text.lines()
        .count()
        .saturating_sub(test_lines(&syntax.items))
}

fn test_lines(items: &[Item]) -> usize {
    items
        .iter()
        .map(|item| {
            let attrs = item_attrs(item);
            if is_test_only(attrs) {
                let start = attrs
                    .iter()
                    .map(|a| line_of(a.span()))
                    .chain([line_of(item.span())])
                    .min()
                    .unwrap_or(0);
                item.span().end().line + 1 - start
            } else if let Item::Mod(syn::ItemMod {
                content: Some((_, inner)),
                ..
            }) = item
            {
                test_lines(inner)
            } else {
                0
            }
        })
        .sum()
}

/// One function's length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FnSize {
    /// `name`, or `Type::name` for a method.
    pub(crate) name: String,
    pub(crate) line: usize,
    pub(crate) lines: usize,
}

/// Every function and method outside tests in `syntax`.
pub(crate) fn functions(syntax: &syn::File) -> Vec<FnSize> {
    let mut sizes = FnSizes::default();
    sizes.visit_file(syntax);
    sizes.found
}

#[derive(Default)]
struct FnSizes {
    found: Vec<FnSize>,
    owner: Vec<String>,
}

impl FnSizes {
    fn record(&mut self, sig: &Signature, body: &Block) {
        let line = line_of(sig.span());
        let end = body.brace_token.span.close().end().line;
        let name = match self.owner.last() {
            Some(owner) => format!("{owner}::{}", sig.ident),
            None => sig.ident.to_string(),
        };
        self.found.push(FnSize {
            name,
            line,
            lines: end + 1 - line,
        });
    }

    fn with_owner(&mut self, owner: String, visit: impl FnOnce(&mut Self)) {
        self.owner.push(owner);
        visit(self);
        self.owner.pop();
    }
}

impl<'ast> Visit<'ast> for FnSizes {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_test_only(&m.attrs) {
            syn::visit::visit_item_mod(self, m);
        }
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if !is_test_only(&f.attrs) {
            // A function inside a function is not a method of the outer owner.
            let owner = std::mem::take(&mut self.owner);
            self.record(&f.sig, &f.block);
            syn::visit::visit_item_fn(self, f);
            self.owner = owner;
        }
    }

    fn visit_item_impl(&mut self, i: &'ast syn::ItemImpl) {
        if is_test_only(&i.attrs) {
            return;
        }
        let owner = match &*i.self_ty {
            syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
            _ => None,
        };
        self.with_owner(owner.unwrap_or_else(|| "impl".into()), |s| {
            syn::visit::visit_item_impl(s, i)
        });
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if !is_test_only(&f.attrs) {
            self.record(&f.sig, &f.block);
            syn::visit::visit_impl_item_fn(self, f);
        }
    }

    fn visit_item_trait(&mut self, t: &'ast syn::ItemTrait) {
        if !is_test_only(&t.attrs) {
            self.with_owner(t.ident.to_string(), |s| syn::visit::visit_item_trait(s, t));
        }
    }

    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if is_test_only(&f.attrs) {
            return;
        }
        if let Some(body) = &f.default {
            self.record(&f.sig, body);
        }
        syn::visit::visit_trait_item_fn(self, f);
    }
}
