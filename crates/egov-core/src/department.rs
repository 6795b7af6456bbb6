//! Department codes: how a phòng, ban or bộ phận inside an agency is named
//! in workflow templates and in officials' accounts. Only the format lives
//! here; which departments an agency has is the directory's business.

/// Whether `code` is a department code: `[A-Z0-9_]{1,32}`, e.g. `MOT_CUA`.
pub fn is_department_code(code: &str) -> bool {
    (1..=32).contains(&code.len())
        && code
            .bytes()
            .all(|byte| byte.is_ascii_uppercase() || byte.is_ascii_digit() || byte == b'_')
}

#[cfg(test)]
mod tests {
    use super::is_department_code;

    #[test]
    fn department_codes_are_short_capitals_digits_and_underscores() {
        assert!(is_department_code("MOT_CUA"));
        assert!(is_department_code("PHONG_2"));
        assert!(!is_department_code(""));
        assert!(!is_department_code("mot_cua"));
        assert!(!is_department_code("MỘT_CỬA"));
        assert!(!is_department_code("MOT CUA"));
        assert!(!is_department_code(&"A".repeat(33)));
    }
}
