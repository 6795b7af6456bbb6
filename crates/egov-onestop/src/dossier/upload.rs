//! Uploaded documents as the rules see them: the type read from the bytes
//! (never from the name or the declared type), the file name made safe to
//! keep and to offer back, and the slot's limits.
//!
//! Pure. Only PDF, JPEG and PNG are accepted anywhere; every archive format
//! (zip and therefore zip bombs, office documents) is refused as an unknown
//! type before anything is stored.

use super::eform::DocumentSlot;

/// Longest file name kept, in characters.
pub const MAX_NAME_CHARS: usize = 150;

/// The slot of officials' internal attachments: any accepted type, up to
/// 20 MB.
pub fn internal_slot() -> DocumentSlot {
    DocumentSlot {
        slot: INTERNAL_SLOT.to_owned(),
        label_vi: "Tài liệu nội bộ".to_owned(),
        label_en: "Internal document".to_owned(),
        required: false,
        max_bytes: 20_000_000,
        types: super::eform::KNOWN_TYPES
            .iter()
            .map(|kind| (*kind).to_owned())
            .collect(),
    }
}

/// The name of that slot.
pub const INTERNAL_SLOT: &str = "internal";

/// The media type the content is, judged by its first bytes.
pub fn sniff(content: &[u8]) -> Option<&'static str> {
    if content.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if content.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if content.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else {
        None
    }
}

/// Why an upload is refused. Each carries the slot it was for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    #[error("{slot}: the procedure has no such document slot")]
    UnknownSlot { slot: String },
    #[error("{slot}: the file is empty")]
    Empty { slot: String },
    #[error("{slot}: the file is larger than {max_bytes} bytes")]
    TooLarge { slot: String, max_bytes: u64 },
    #[error("{slot}: the file is not one of {allowed}")]
    WrongType { slot: String, allowed: String },
    #[error("{slot}: the file name is not acceptable")]
    BadName { slot: String },
}

impl UploadError {
    pub fn slot(&self) -> &str {
        match self {
            UploadError::UnknownSlot { slot }
            | UploadError::Empty { slot }
            | UploadError::TooLarge { slot, .. }
            | UploadError::WrongType { slot, .. }
            | UploadError::BadName { slot } => slot,
        }
    }

    pub fn vi(&self) -> String {
        match self {
            UploadError::UnknownSlot { .. } => "Thủ tục không có thành phần hồ sơ này.".to_owned(),
            UploadError::Empty { .. } => "Tệp rỗng.".to_owned(),
            UploadError::TooLarge { max_bytes, .. } => {
                format!("Tệp lớn hơn giới hạn {}.", size(*max_bytes))
            }
            UploadError::WrongType { allowed, .. } => format!("Chỉ nhận tệp {allowed}."),
            UploadError::BadName { .. } => "Tên tệp không hợp lệ.".to_owned(),
        }
    }

    pub fn en(&self) -> String {
        match self {
            UploadError::UnknownSlot { .. } => "The procedure has no such document.".to_owned(),
            UploadError::Empty { .. } => "The file is empty.".to_owned(),
            UploadError::TooLarge { max_bytes, .. } => {
                format!("The file is larger than {}.", size(*max_bytes).replace(',', "."))
            }
            UploadError::WrongType { allowed, .. } => format!("Only {allowed} files are accepted."),
            UploadError::BadName { .. } => "The file name is not acceptable.".to_owned(),
        }
    }
}

/// A size limit as people read it: `850 KB`, `5,0 MB` (decimal comma).
fn size(bytes: u64) -> String {
    if bytes < 1_000_000 {
        format!("{} KB", bytes.div_ceil(1_000))
    } else {
        let tenths = bytes.div_ceil(100_000);
        format!("{},{} MB", tenths / 10, tenths % 10)
    }
}

/// A short name of a media type for messages.
pub fn type_name(media_type: &str) -> &'static str {
    match media_type {
        "application/pdf" => "PDF",
        "image/jpeg" => "JPEG",
        "image/png" => "PNG",
        _ => "?",
    }
}

/// The file name as it will be kept: the last path component, no control
/// characters, no leading dots. A name that tries to climb (`../`) is
/// refused rather than repaired.
pub fn clean_name(name: &str) -> Option<String> {
    let name = name.trim();
    if name.is_empty()
        || name.contains("..")
        || name.contains(['/', '\\', '\0'])
        || name.chars().any(char::is_control)
        || name.starts_with('.')
        || name.chars().count() > MAX_NAME_CHARS
    {
        return None;
    }
    Some(name.to_owned())
}

/// Checks one file against its slot; returns the media type and clean name.
pub fn check(slot: &DocumentSlot, file_name: &str, content: &[u8]) -> Result<(&'static str, String), UploadError> {
    let slot_name = || slot.slot.clone();
    if content.is_empty() {
        return Err(UploadError::Empty { slot: slot_name() });
    }
    if u64::try_from(content.len()).unwrap_or(u64::MAX) > slot.max_bytes {
        return Err(UploadError::TooLarge {
            slot: slot_name(),
            max_bytes: slot.max_bytes,
        });
    }
    let media_type = sniff(content)
        .filter(|media_type| slot.types.iter().any(|allowed| allowed == media_type))
        .ok_or_else(|| UploadError::WrongType {
            slot: slot_name(),
            allowed: slot
                .types
                .iter()
                .map(|kind| type_name(kind))
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let name = clean_name(file_name).ok_or_else(|| UploadError::BadName { slot: slot_name() })?;
    Ok((media_type, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot() -> DocumentSlot {
        DocumentSlot {
            slot: "birth_certificate".to_owned(),
            label_vi: "Giấy chứng sinh".to_owned(),
            label_en: "Birth certificate".to_owned(),
            required: true,
            max_bytes: 1_000,
            types: vec!["application/pdf".to_owned(), "image/png".to_owned()],
        }
    }

    #[test]
    fn the_type_comes_from_the_bytes_not_the_name() {
        assert_eq!(
            check(&slot(), "scan.pdf", b"%PDF-1.7 ...").map(|(kind, _)| kind),
            Ok("application/pdf")
        );
        assert!(matches!(
            check(&slot(), "scan.pdf", b"<html>"),
            Err(UploadError::WrongType { .. })
        ));
        assert!(matches!(
            check(&slot(), "photo.png", &[0xFF, 0xD8, 0xFF, 0xE0]),
            Err(UploadError::WrongType { .. })
        ));
    }

    #[test]
    fn archives_are_refused_so_zip_bombs_never_open() {
        let zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00";
        assert!(matches!(
            check(&slot(), "bomb.zip", zip),
            Err(UploadError::WrongType { .. })
        ));
    }

    #[test]
    fn limits_and_names_are_enforced() {
        let big = [b"%PDF-".as_slice(), &[b' '; 1_000]].concat();
        assert!(matches!(
            check(&slot(), "a.pdf", &big),
            Err(UploadError::TooLarge { .. })
        ));
        assert!(matches!(check(&slot(), "a.pdf", b""), Err(UploadError::Empty { .. })));
        for bad in [
            "../../etc/passwd",
            "..\\boot.ini",
            "a/b.pdf",
            ".hidden",
            "",
            "a\u{0}.pdf",
        ] {
            assert!(
                matches!(check(&slot(), bad, b"%PDF-1.4"), Err(UploadError::BadName { .. })),
                "{bad:?}"
            );
        }
        assert_eq!(
            check(&slot(), " Giấy chứng sinh.pdf ", b"%PDF-1.4").map(|(_, name)| name),
            Ok("Giấy chứng sinh.pdf".to_owned())
        );
    }

    #[test]
    fn sizes_read_in_vietnamese() {
        let error = UploadError::TooLarge {
            slot: "x".to_owned(),
            max_bytes: 5_000_000,
        };
        assert_eq!(error.vi(), "Tệp lớn hơn giới hạn 5,0 MB.");
    }
}
