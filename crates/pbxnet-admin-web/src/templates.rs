//! The templates and assets, compiled into the binary (`include_str!`): the
//! daemon needs no template directory, no Node build and no CDN, and a page
//! cannot differ from the tested one.

use minijinja::Environment;

/// Every template, by name (`.html`: autoescaped).
const TEMPLATES: [(&str, &str); 11] = [
    ("base.html", include_str!("../templates/base.html")),
    ("macros.html", include_str!("../templates/macros.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("site.html", include_str!("../templates/site.html")),
    ("devices.html", include_str!("../templates/devices.html")),
    ("device.html", include_str!("../templates/device.html")),
    ("release.html", include_str!("../templates/release.html")),
    ("leases.html", include_str!("../templates/leases.html")),
    ("ntp.html", include_str!("../templates/ntp.html")),
    ("files.html", include_str!("../templates/files.html")),
];

/// A static file served under `/assets/`.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Its name after `/assets/`.
    pub name: &'static str,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The bytes.
    pub body: &'static str,
}

/// Every asset.
pub const ASSETS: [Asset; 3] = [
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../assets/app.css"),
    },
    Asset {
        name: "live.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/live.js"),
    },
    Asset {
        name: "icon.svg",
        content_type: "image/svg+xml",
        body: include_str!("../assets/icon.svg"),
    },
];

/// The asset called `name`.
pub fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// The environment with every template loaded; a template that does not
/// parse fails here, at start-up (and in the unit test), not on a request.
pub fn environment() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Chainable);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)?;
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use minijinja::context;

    use super::*;

    #[test]
    fn every_template_parses_and_escapes_html() {
        let env = environment().unwrap();
        let html = env
            .get_template("error.html")
            .unwrap()
            .render(context! { title => "Oops", message => "<script>alert(1)</script>" })
            .unwrap();
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>alert"));
    }

    #[test]
    fn assets_are_found_by_name() {
        assert_eq!(
            asset("app.css").unwrap().content_type,
            "text/css; charset=utf-8"
        );
        assert!(asset("../Cargo.toml").is_none());
    }
}
