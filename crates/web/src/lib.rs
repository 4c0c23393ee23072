//! The pages people see: the kiosk at the till, enrollment, the operator console and a metro
//! gate, as static assets compiled into the binary and served by `api`.
//!
//! Owns: HTML, CSS and the browser-side scripts.
//!
//! Must never: hold a secret, decide anything a server must decide, or keep a face image in the
//! browser longer than the request that sends it.

/// A file the browser gets, with its content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asset {
    pub content_type: &'static str,
    pub body: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

macro_rules! asset {
    ($file:literal, $content_type:expr) => {
        Asset { content_type: $content_type, body: include_bytes!(concat!("../assets/", $file)) }
    };
}

/// The pages, by the path they are served at.
pub fn page(path: &str) -> Option<Asset> {
    Some(match path {
        "/" => asset!("index.html", HTML),
        "/kiosk" => asset!("kiosk.html", HTML),
        "/enroll" => asset!("enroll.html", HTML),
        "/console" => asset!("console.html", HTML),
        "/gate" => asset!("gate.html", HTML),
        _ => return None,
    })
}

/// What the pages load, by name under `/assets/`.
pub fn asset(name: &str) -> Option<Asset> {
    Some(match name {
        "style.css" => asset!("style.css", CSS),
        "common.js" => asset!("common.js", JS),
        "terminal-key.js" => asset!("terminal-key.js", JS),
        "kiosk.js" => asset!("kiosk.js", JS),
        "enroll.js" => asset!("enroll.js", JS),
        "console.js" => asset!("console.js", JS),
        "gate.js" => asset!("gate.js", JS),
        "qr.js" => asset!("qr.js", JS),
        _ => return None,
    })
}

/// The paths `page` serves, for the router.
pub const PAGES: [&str; 5] = ["/", "/kiosk", "/enroll", "/console", "/gate"];

/// The policy every page is served under: nothing may load or connect beyond this server.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; media-src 'self' blob: mediastream:; connect-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

#[cfg(test)]
mod tests {
    use super::*;

    const ASSETS: [&str; 8] = [
        "style.css",
        "common.js",
        "terminal-key.js",
        "kiosk.js",
        "enroll.js",
        "console.js",
        "gate.js",
        "qr.js",
    ];

    fn text(asset: Asset) -> &'static str {
        std::str::from_utf8(asset.body).expect("assets are UTF-8")
    }

    #[test]
    fn every_page_loads_only_assets_this_server_has() {
        for path in PAGES {
            let html = text(page(path).unwrap_or_else(|| panic!("{path} is served")));
            for reference in html.split("/assets/").skip(1) {
                let name = reference.split('"').next().unwrap();
                assert!(asset(name).is_some(), "{path} loads /assets/{name}, which is not served");
            }
        }
        assert!(page("/nowhere").is_none() && asset("../lib.rs").is_none());
    }

    #[test]
    fn no_page_or_script_names_another_host() {
        // The SVG namespace is a name inside the document, never fetched.
        let allowed = ["http://www.w3.org/2000/svg"];
        let texts = PAGES
            .iter()
            .map(|p| text(page(p).unwrap()))
            .chain(ASSETS.iter().map(|a| text(asset(a).unwrap())));
        for body in texts {
            let rest = allowed.iter().fold(body.to_owned(), |text, name| text.replace(name, ""));
            for scheme in ["http://", "https://", "ws://", "wss://"] {
                assert!(!rest.contains(scheme), "a page names another host ({scheme})");
            }
        }
    }

    #[test]
    fn every_asset_is_served_with_its_content_type() {
        for name in ASSETS {
            let served = asset(name).unwrap();
            let expected = if name.ends_with(".css") { CSS } else { JS };
            assert_eq!(served.content_type, expected, "{name}");
            assert!(!served.body.is_empty());
        }
    }
}
