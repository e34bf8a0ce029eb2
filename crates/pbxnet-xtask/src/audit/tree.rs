//! A crate's module tree as the compiler sees it: from each target's root
//! file through `mod` declarations (`name.rs`, `name/mod.rs`, `#[path]`),
//! with the names each module defines and imports and the paths it writes.
//! Test code is marked, never dropped, so each check can skip it: files under
//! `tests/`, files named `tests.rs` or `*_tests.rs`, `#[cfg(test)]` modules
//! and items, and `#[test]` functions.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use anyhow::{Context, Result};
use quote::ToTokens;
use syn::punctuated::Punctuated;
use syn::visit::Visit;
use syn::{Attribute, Item, Meta, Token};

use super::tokens::{token_paths, use_leaves, WrittenPath};
use super::workspace::{CrateSpec, TargetKind};

/// One source file of a crate.
pub(crate) struct SourceFile {
    pub(crate) path: PathBuf,
    /// Test code as a whole (see the module documentation).
    pub(crate) test: bool,
    /// Reached from the library target.
    pub(crate) in_lib: bool,
    /// Marked `@generated` in its first lines: data, not code to size.
    pub(crate) generated: bool,
    pub(crate) text: String,
    pub(crate) syntax: Rc<syn::File>,
}

/// One module: a file's top level or an inline `mod name { … }`.
#[derive(Debug, Default)]
pub(crate) struct Module {
    pub(crate) file: usize,
    pub(crate) parent: Option<usize>,
    pub(crate) children: BTreeMap<String, usize>,
    /// Names of the items defined here (types, functions, constants, macros).
    pub(crate) items: BTreeSet<String>,
    /// Names bound by `use`, with the path as written here.
    pub(crate) imports: BTreeMap<String, Vec<String>>,
    /// `use path::*` paths, as written here.
    pub(crate) globs: Vec<Vec<String>>,
    /// Every path written in this module's own items (not its children's).
    pub(crate) paths: Vec<WrittenPath>,
    pub(crate) test: bool,
}

/// The files and modules of one crate (every target together).
#[derive(Default)]
pub(crate) struct Tree {
    pub(crate) files: Vec<SourceFile>,
    pub(crate) modules: Vec<Module>,
}

impl Tree {
    /// Loads every target of `krate` except its integration tests.
    pub(crate) fn load(krate: &CrateSpec) -> Result<Tree> {
        let mut tree = Tree::default();
        for target in &krate.targets {
            if target.kind == TargetKind::Test {
                continue;
            }
            let in_lib = target.kind == TargetKind::Lib;
            let test = is_test_path(&krate.dir, &target.root);
            tree.load_file(&krate.dir, &target.root, None, test, in_lib, true)?;
        }
        Ok(tree)
    }

    /// The root module above `module`.
    pub(crate) fn root_of(&self, mut module: usize) -> usize {
        while let Some(parent) = self.modules[module].parent {
            module = parent;
        }
        module
    }

    fn load_file(
        &mut self,
        crate_dir: &Path,
        path: &Path,
        parent: Option<usize>,
        test: bool,
        in_lib: bool,
        owns_dir: bool,
    ) -> Result<usize> {
        let file = self.file_index(crate_dir, path, test, in_lib)?;
        let test = self.files[file].test;
        let syntax = Rc::clone(&self.files[file].syntax);
        let dir = match (owns_dir, path.parent(), path.file_stem()) {
            (false, Some(parent), Some(stem)) => parent.join(stem),
            _ => path.parent().map(Path::to_path_buf).unwrap_or_default(),
        };
        let module = self.new_module(file, parent, test || is_test_only(&syntax.attrs));
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        self.fill(crate_dir, module, &syntax.items, &dir, &base, in_lib)?;
        Ok(module)
    }

    /// The index of `path` in `files`, parsing it on first sight. A file
    /// reached both as test code and as code is code.
    fn file_index(
        &mut self,
        crate_dir: &Path,
        path: &Path,
        test: bool,
        in_lib: bool,
    ) -> Result<usize> {
        let test = test || is_test_path(crate_dir, path);
        if let Some(i) = self.files.iter().position(|f| f.path == path) {
            let f = &mut self.files[i];
            f.test &= test;
            f.in_lib |= in_lib;
            return Ok(i);
        }
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let syntax =
            syn::parse_file(&text).with_context(|| format!("parsing {}", path.display()))?;
        let generated = text.lines().take(5).any(|l| l.contains("@generated"));
        let test = test || is_test_only(&syntax.attrs);
        self.files.push(SourceFile {
            path: path.to_path_buf(),
            test,
            in_lib,
            generated,
            text,
            syntax: Rc::new(syntax),
        });
        Ok(self.files.len() - 1)
    }

    fn new_module(&mut self, file: usize, parent: Option<usize>, test: bool) -> usize {
        let test = test || parent.is_some_and(|p| self.modules[p].test);
        self.modules.push(Module {
            file,
            parent,
            test,
            ..Module::default()
        });
        self.modules.len() - 1
    }

    /// Records `items` into `module`; `dir` is where its `mod name;` files
    /// are, `base` where a `#[path]` is relative to.
    fn fill(
        &mut self,
        crate_dir: &Path,
        module: usize,
        items: &[Item],
        dir: &Path,
        base: &Path,
        in_lib: bool,
    ) -> Result<()> {
        for item in items {
            let attrs = item_attrs(item);
            if is_test_only(attrs) && !matches!(item, Item::Mod(_)) {
                continue;
            }
            match item {
                Item::Mod(m) => {
                    let name = m.ident.to_string();
                    let test = self.modules[module].test || is_test_only(&m.attrs);
                    let child = if let Some((_, inner)) = &m.content {
                        let file = self.modules[module].file;
                        let child = self.new_module(file, Some(module), test);
                        self.fill(
                            crate_dir,
                            child,
                            inner,
                            &dir.join(&name),
                            &dir.join(&name),
                            in_lib,
                        )?;
                        Some(child)
                    } else {
                        let explicit = path_attr(&m.attrs).map(|p| base.join(p));
                        let path = explicit.clone().or_else(|| {
                            [
                                dir.join(format!("{name}.rs")),
                                dir.join(&name).join("mod.rs"),
                            ]
                            .into_iter()
                            .find(|p| p.is_file())
                        });
                        // A module with no file here is compiled out for
                        // another platform: nothing to measure.
                        match path {
                            Some(path) => {
                                let owns_dir = explicit.is_some()
                                    || path.file_name().is_some_and(|n| n == "mod.rs");
                                Some(self.load_file(
                                    crate_dir,
                                    &path,
                                    Some(module),
                                    test,
                                    in_lib,
                                    owns_dir,
                                )?)
                            }
                            None => None,
                        }
                    };
                    if let Some(child) = child {
                        self.modules[child].test |= test;
                        self.modules[module].children.insert(name, child);
                    }
                }
                Item::Use(u) => self.record_use(module, use_leaves(&u.tree)),
                other => {
                    if let Some(name) = item_name(other) {
                        self.modules[module].items.insert(name);
                    }
                    let mut nested = NestedUses::default();
                    nested.visit_item(other);
                    let m = &mut self.modules[module];
                    m.paths.extend(nested.0);
                    m.paths.extend(token_paths(other.to_token_stream()));
                }
            }
        }
        Ok(())
    }

    fn record_use(&mut self, module: usize, leaves: Vec<WrittenPath>) {
        let m = &mut self.modules[module];
        for leaf in leaves {
            if leaf.glob {
                m.globs.push(leaf.segments.clone());
            } else if let Some(name) = &leaf.binds {
                m.imports.insert(name.clone(), leaf.segments.clone());
            }
            m.paths.push(leaf);
        }
    }
}

/// `use` items inside function bodies and blocks.
#[derive(Default)]
struct NestedUses(Vec<WrittenPath>);

impl<'ast> Visit<'ast> for NestedUses {
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        self.0.extend(use_leaves(&u.tree));
    }
}

/// True for a path under a `tests/` directory of the crate, or a file named
/// `tests.rs` or `*_tests.rs`.
pub(crate) fn is_test_path(crate_dir: &Path, path: &Path) -> bool {
    let rel = path.strip_prefix(crate_dir).unwrap_or(path);
    let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let in_tests_dir = rel
        .parent()
        .is_some_and(|dir| dir.components().any(|c| c.as_os_str() == "tests"));
    in_tests_dir || name == "tests.rs" || name.ends_with("_tests.rs")
}

/// True when the attributes make the item test code: `#[test]`,
/// `#[tokio::test]`, or a `#[cfg]` that holds only under `test`.
pub(crate) fn is_test_only(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|attr| {
        let path = attr.path();
        let is_test_attr =
            path.segments.last().is_some_and(|s| s.ident == "test") && path.segments.len() <= 2;
        is_test_attr
            || (path.is_ident("cfg") && attr.parse_args::<Meta>().is_ok_and(|m| cfg_needs_test(&m)))
    })
}

fn cfg_needs_test(meta: &Meta) -> bool {
    let args = |list: &syn::MetaList| -> Vec<Meta> {
        list.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated)
            .map(|p| p.into_iter().collect())
            .unwrap_or_default()
    };
    match meta {
        Meta::Path(p) => p.is_ident("test"),
        Meta::List(list) if list.path.is_ident("all") => args(list).iter().any(cfg_needs_test),
        Meta::List(list) if list.path.is_ident("any") => {
            let args = args(list);
            !args.is_empty() && args.iter().all(cfg_needs_test)
        }
        _ => false,
    }
}

fn path_attr(attrs: &[Attribute]) -> Option<String> {
    attrs.iter().find_map(|attr| match &attr.meta {
        Meta::NameValue(nv) if nv.path.is_ident("path") => match &nv.value {
            syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) => Some(s.value()),
            _ => None,
        },
        _ => None,
    })
}

/// The attributes of any item (empty for the kinds that carry none).
pub(crate) fn item_attrs(item: &Item) -> &[Attribute] {
    match item {
        Item::Const(i) => &i.attrs,
        Item::Enum(i) => &i.attrs,
        Item::ExternCrate(i) => &i.attrs,
        Item::Fn(i) => &i.attrs,
        Item::ForeignMod(i) => &i.attrs,
        Item::Impl(i) => &i.attrs,
        Item::Macro(i) => &i.attrs,
        Item::Mod(i) => &i.attrs,
        Item::Static(i) => &i.attrs,
        Item::Struct(i) => &i.attrs,
        Item::Trait(i) => &i.attrs,
        Item::TraitAlias(i) => &i.attrs,
        Item::Type(i) => &i.attrs,
        Item::Union(i) => &i.attrs,
        Item::Use(i) => &i.attrs,
        _ => &[],
    }
}

fn item_name(item: &Item) -> Option<String> {
    let ident = match item {
        Item::Const(i) => &i.ident,
        Item::Enum(i) => &i.ident,
        Item::ExternCrate(i) => &i.ident,
        Item::Fn(i) => &i.sig.ident,
        Item::Macro(i) => i.ident.as_ref()?,
        Item::Static(i) => &i.ident,
        Item::Struct(i) => &i.ident,
        Item::Trait(i) => &i.ident,
        Item::TraitAlias(i) => &i.ident,
        Item::Type(i) => &i.ident,
        Item::Union(i) => &i.ident,
        _ => return None,
    };
    Some(ident.to_string())
}
