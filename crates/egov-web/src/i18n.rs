//! The two languages of the UI and the shell's own strings.
//!
//! Every page is rendered wholly in one language: Vietnamese by default,
//! English when the visitor chose it (the choice is kept in the `egov_lang`
//! cookie) or asked with `?lang=en`. Strings are fields of a struct with one
//! constant per language, so a string missing in one language is a compile
//! error, not a mixed-language page. Each subsystem keeps its own text
//! struct the same way.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

/// The cookie that remembers the visitor's language.
pub const LANG_COOKIE: &str = "egov_lang";

/// A UI language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Vi,
    En,
}

impl Lang {
    pub fn parse(value: &str) -> Option<Lang> {
        match value {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    /// The other language, for the switch in the header.
    #[must_use]
    pub fn other(self) -> Lang {
        match self {
            Lang::Vi => Lang::En,
            Lang::En => Lang::Vi,
        }
    }

    /// Picks from a pair of translations.
    pub fn pick<T>(self, vi: T, en: T) -> T {
        match self {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }

    /// The language of a request: `?lang=` first, then the cookie, then
    /// Vietnamese. `Accept-Language` is deliberately not consulted for pages:
    /// the portal is Vietnamese unless the visitor chooses otherwise.
    pub fn from_request(query: Option<&str>, headers: &HeaderMap) -> Lang {
        if let Some(lang) = query.and_then(query_lang) {
            return lang;
        }
        cookie_value(headers, LANG_COOKIE)
            .and_then(Lang::parse)
            .unwrap_or_default()
    }

    pub fn shell(self) -> &'static ShellText {
        self.pick(&SHELL_VI, &SHELL_EN)
    }
}

fn query_lang(query: &str) -> Option<Lang> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "lang")
        .and_then(|(_, value)| Lang::parse(&value))
}

/// Reads one cookie from the request headers.
pub fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

impl<S: Send + Sync> FromRequestParts<S> for Lang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Lang::from_request(parts.uri.query(), &parts.headers))
    }
}

/// Strings of the layout shared by every page.
#[derive(Debug)]
pub struct ShellText {
    pub site_name: &'static str,
    pub site_tagline: &'static str,
    pub skip_to_content: &'static str,
    pub nav_label: &'static str,
    pub nav_home: &'static str,
    pub nav_procedures: &'static str,
    pub nav_api: &'static str,
    pub nav_my_dossiers: &'static str,
    pub nav_lookup: &'static str,
    pub nav_account: &'static str,
    pub switch_language: &'static str,
    pub switch_language_label: &'static str,
    pub footer_text: &'static str,
    pub error_title: &'static str,
    pub error_back_home: &'static str,
    pub error_request_id: &'static str,
    pub api_docs_title: &'static str,
    pub api_docs_intro: &'static str,
    pub api_docs_download: &'static str,
    pub api_parameters: &'static str,
    pub api_parameter_name: &'static str,
    pub api_parameter_in: &'static str,
    pub api_parameter_required: &'static str,
    pub api_parameter_description: &'static str,
    pub api_responses: &'static str,
    pub yes: &'static str,
    pub no: &'static str,
}

pub static SHELL_VI: ShellText = ShellText {
    site_name: "Cổng Dịch vụ công",
    site_tagline: "Thủ tục hành chính và dịch vụ công trực tuyến",
    skip_to_content: "Chuyển đến nội dung chính",
    nav_label: "Điều hướng chính",
    nav_home: "Trang chủ",
    nav_procedures: "Thủ tục hành chính",
    nav_api: "API cho nhà phát triển",
    nav_my_dossiers: "Hồ sơ của tôi",
    nav_lookup: "Tra cứu hồ sơ",
    nav_account: "Tài khoản của tôi",
    switch_language: "English",
    switch_language_label: "Chuyển ngôn ngữ:",
    footer_text: "Hệ thống egov — nền tảng chính quyền số mã nguồn mở.",
    error_title: "Đã xảy ra lỗi",
    error_back_home: "Về trang chủ",
    error_request_id: "Mã yêu cầu",
    api_docs_title: "Tài liệu API",
    api_docs_intro: "Mọi thao tác trên giao diện đều có API JSON tương ứng. Tài liệu dưới đây được sinh từ đặc tả OpenAPI của hệ thống.",
    api_docs_download: "Tải đặc tả OpenAPI (JSON)",
    api_parameters: "Tham số",
    api_parameter_name: "Tên",
    api_parameter_in: "Vị trí",
    api_parameter_required: "Bắt buộc",
    api_parameter_description: "Mô tả",
    api_responses: "Phản hồi",
    yes: "Có",
    no: "Không",
};

pub static SHELL_EN: ShellText = ShellText {
    site_name: "Public Service Portal",
    site_tagline: "Administrative procedures and online public services",
    skip_to_content: "Skip to main content",
    nav_label: "Main navigation",
    nav_home: "Home",
    nav_procedures: "Administrative procedures",
    nav_api: "API for developers",
    nav_my_dossiers: "My applications",
    nav_lookup: "Track an application",
    nav_account: "My account",
    switch_language: "Tiếng Việt",
    switch_language_label: "Switch language:",
    footer_text: "egov — an open-source digital government platform.",
    error_title: "Something went wrong",
    error_back_home: "Back to the home page",
    error_request_id: "Request id",
    api_docs_title: "API documentation",
    api_docs_intro: "Everything the pages do can be done through the JSON API. This reference is generated from the system's OpenAPI description.",
    api_docs_download: "Download the OpenAPI description (JSON)",
    api_parameters: "Parameters",
    api_parameter_name: "Name",
    api_parameter_in: "In",
    api_parameter_required: "Required",
    api_parameter_description: "Description",
    api_responses: "Responses",
    yes: "Yes",
    no: "No",
};

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers_with_cookie(cookie: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(cookie).expect("valid header"));
        headers
    }

    #[test]
    fn vietnamese_is_the_default_language() {
        assert_eq!(Lang::from_request(None, &HeaderMap::new()), Lang::Vi);
    }

    #[test]
    fn the_cookie_chooses_english_and_the_query_overrides_it() {
        let headers = headers_with_cookie("a=b; egov_lang=en");
        assert_eq!(Lang::from_request(None, &headers), Lang::En);
        assert_eq!(Lang::from_request(Some("q=x&lang=vi"), &headers), Lang::Vi);
    }

    #[test]
    fn an_unknown_language_falls_back_to_vietnamese() {
        assert_eq!(
            Lang::from_request(Some("lang=fr"), &headers_with_cookie("egov_lang=de")),
            Lang::Vi
        );
    }
}
