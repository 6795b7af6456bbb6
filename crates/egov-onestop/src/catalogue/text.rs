//! The catalogue pages' strings, in Vietnamese and English.

use egov_web::Lang;

use super::domain::{Level, OnlineLevel};

#[derive(Debug)]
pub(crate) struct CatalogueText {
    pub(crate) home_title: &'static str,
    pub(crate) home_lead: &'static str,
    pub(crate) search_label: &'static str,
    pub(crate) search_hint: &'static str,
    pub(crate) search_button: &'static str,
    pub(crate) filters_label: &'static str,
    pub(crate) filter_agency: &'static str,
    pub(crate) filter_level: &'static str,
    pub(crate) filter_field: &'static str,
    pub(crate) filter_online: &'static str,
    pub(crate) any_option: &'static str,
    pub(crate) apply_filters: &'static str,
    pub(crate) results_title: &'static str,
    pub(crate) results_for: &'static str,
    pub(crate) count_suffix: &'static str,
    pub(crate) no_results: &'static str,
    pub(crate) page_label: &'static str,
    pub(crate) page_of: &'static str,
    pub(crate) previous: &'static str,
    pub(crate) next: &'static str,
    pub(crate) pagination_label: &'static str,
    pub(crate) procedure_code: &'static str,
    pub(crate) competent_agency: &'static str,
    pub(crate) level: &'static str,
    pub(crate) field: &'static str,
    pub(crate) fee: &'static str,
    pub(crate) fee_free: &'static str,
    pub(crate) fee_by_province: &'static str,
    pub(crate) processing_time: &'static str,
    pub(crate) due_if_received_today: &'static str,
    pub(crate) working_days: &'static str,
    pub(crate) online_level: &'static str,
    pub(crate) required_documents: &'static str,
    pub(crate) legal_basis: &'static str,
    pub(crate) submit_online: &'static str,
    pub(crate) browse_by_field: &'static str,
    pub(crate) all_procedures: &'static str,
    pub(crate) stats_label: &'static str,
    pub(crate) stats_procedures: &'static str,
    pub(crate) stats_full_online: &'static str,
    pub(crate) featured_title: &'static str,
    pub(crate) stats_agencies: &'static str,
    pub(crate) content_language_note: &'static str,
    pub(crate) query_too_long: &'static str,
    pub(crate) invalid_parameter: &'static str,
    pub(crate) procedure_not_found: &'static str,
}

pub(crate) static VI: CatalogueText = CatalogueText {
    home_title: "Tra cứu thủ tục hành chính",
    home_lead: "Tìm thủ tục, xem hồ sơ cần chuẩn bị, lệ phí, thời hạn giải quyết và nộp hồ sơ trực tuyến.",
    search_label: "Tìm thủ tục",
    search_hint: "Gõ có dấu hoặc không dấu, ví dụ: dang ky khai sinh",
    search_button: "Tìm kiếm",
    filters_label: "Lọc kết quả",
    filter_agency: "Cơ quan thực hiện",
    filter_level: "Cấp thực hiện",
    filter_field: "Lĩnh vực",
    filter_online: "Mức độ trực tuyến",
    any_option: "Tất cả",
    apply_filters: "Áp dụng bộ lọc",
    results_title: "Danh sách thủ tục",
    results_for: "Kết quả cho",
    count_suffix: "thủ tục",
    no_results: "Không tìm thấy thủ tục phù hợp. Hãy thử từ khóa ngắn hơn hoặc bỏ bớt bộ lọc.",
    page_label: "Trang",
    page_of: "trên",
    previous: "Trang trước",
    next: "Trang sau",
    pagination_label: "Phân trang",
    procedure_code: "Mã thủ tục",
    competent_agency: "Cơ quan thực hiện",
    level: "Cấp thực hiện",
    field: "Lĩnh vực",
    fee: "Phí, lệ phí",
    fee_free: "Miễn phí",
    fee_by_province: "Theo mức do Hội đồng nhân dân tỉnh quy định",
    processing_time: "Thời hạn giải quyết",
    due_if_received_today: "Hẹn trả kết quả nếu hồ sơ đầy đủ được tiếp nhận hôm nay",
    working_days: "ngày làm việc",
    online_level: "Mức độ dịch vụ công trực tuyến",
    required_documents: "Thành phần hồ sơ",
    legal_basis: "Căn cứ pháp lý",
    submit_online: "Nộp hồ sơ trực tuyến",
    browse_by_field: "Tra cứu theo lĩnh vực",
    all_procedures: "Xem tất cả thủ tục",
    stats_label: "Số liệu danh mục",
    stats_procedures: "thủ tục hành chính",
    stats_full_online: "thủ tục trực tuyến toàn trình",
    featured_title: "Dịch vụ công trực tuyến toàn trình",
    stats_agencies: "cơ quan thực hiện",
    content_language_note: "",
    query_too_long: "Từ khóa tìm kiếm quá dài (tối đa 200 ký tự).",
    invalid_parameter: "Tham số không hợp lệ",
    procedure_not_found: "Không tìm thấy thủ tục có mã này.",
};

pub(crate) static EN: CatalogueText = CatalogueText {
    home_title: "Find an administrative procedure",
    home_lead: "Find a procedure, see which documents to prepare, the fee and the time limit, and apply online.",
    search_label: "Search procedures",
    search_hint: "With or without Vietnamese accents, e.g. dang ky khai sinh",
    search_button: "Search",
    filters_label: "Filter results",
    filter_agency: "Competent agency",
    filter_level: "Level",
    filter_field: "Field",
    filter_online: "Online service level",
    any_option: "All",
    apply_filters: "Apply filters",
    results_title: "Procedures",
    results_for: "Results for",
    count_suffix: "procedures",
    no_results: "No procedure matches. Try a shorter search or remove a filter.",
    page_label: "Page",
    page_of: "of",
    previous: "Previous page",
    next: "Next page",
    pagination_label: "Pagination",
    procedure_code: "Procedure code",
    competent_agency: "Competent agency",
    level: "Level",
    field: "Field",
    fee: "Fees and charges",
    fee_free: "Free of charge",
    fee_by_province: "As set by the Provincial People's Council",
    processing_time: "Time limit",
    due_if_received_today: "Result due if a complete dossier is received today",
    working_days: "working days",
    online_level: "Online service level",
    required_documents: "Required documents",
    legal_basis: "Legal basis",
    submit_online: "Apply online",
    browse_by_field: "Browse by field",
    all_procedures: "See all procedures",
    stats_label: "Catalogue figures",
    stats_procedures: "administrative procedures",
    stats_full_online: "fully online procedures",
    featured_title: "Fully online public services",
    stats_agencies: "competent agencies",
    content_language_note: "Official procedure texts (documents, notes, legal basis) are published in Vietnamese.",
    query_too_long: "The search text is too long (at most 200 characters).",
    invalid_parameter: "Invalid parameter",
    procedure_not_found: "There is no procedure with this code.",
};

/// A date as people write it: `Thứ Hai, 07/12/2026` or
/// `Monday, 7 December 2026`.
pub(crate) fn format_date(date: chrono::NaiveDate, lang: Lang) -> String {
    use chrono::{Datelike as _, Weekday};
    let weekday = match date.weekday() {
        Weekday::Mon => lang.pick("Thứ Hai", "Monday"),
        Weekday::Tue => lang.pick("Thứ Ba", "Tuesday"),
        Weekday::Wed => lang.pick("Thứ Tư", "Wednesday"),
        Weekday::Thu => lang.pick("Thứ Năm", "Thursday"),
        Weekday::Fri => lang.pick("Thứ Sáu", "Friday"),
        Weekday::Sat => lang.pick("Thứ Bảy", "Saturday"),
        Weekday::Sun => lang.pick("Chủ nhật", "Sunday"),
    };
    match lang {
        Lang::Vi => format!("{weekday}, {}", date.format("%d/%m/%Y")),
        Lang::En => format!("{weekday}, {} {}", date.day(), date.format("%B %Y")),
    }
}

pub(crate) fn text(lang: Lang) -> &'static CatalogueText {
    lang.pick(&VI, &EN)
}

pub(crate) fn level_name(level: Level, lang: Lang) -> &'static str {
    match level {
        Level::Commune => lang.pick("Cấp xã", "Commune"),
        Level::Province => lang.pick("Cấp tỉnh", "Province"),
        Level::Ministry => lang.pick("Cấp bộ, ngành", "Ministry"),
    }
}

pub(crate) fn online_name(online: OnlineLevel, lang: Lang) -> &'static str {
    match online {
        OnlineLevel::Full => lang.pick("Toàn trình (mức độ 4)", "Fully online (level 4)"),
        OnlineLevel::Partial => lang.pick("Một phần (mức độ 3)", "Partly online (level 3)"),
    }
}
