//! Renders, signs and verifies result documents end to end through the public API only.

use std::collections::HashMap;
use std::io::Read as _;

use egov_documents::render::{CreationDate, RenderError, ResultDocument, ResultRenderer};
use egov_documents::sign::{AgencySigningKey, DetachedSignature, VerifyError, verify};

const LONG_PARAGRAPH: &str = "Căn cứ Luật Hộ tịch ngày 20 tháng 11 năm 2014; Nghị định số 123/2015/NĐ-CP ngày 15 \
    tháng 11 năm 2015 của Chính phủ quy định chi tiết một số điều và biện pháp thi hành Luật Hộ tịch; xét đề nghị \
    của công chức tư pháp - hộ tịch, Ủy ban nhân dân xã chứng nhận việc đăng ký khai sinh cho trẻ có tên dưới đây \
    đã được thực hiện đầy đủ, đúng trình tự, thủ tục theo quy định của pháp luật; các thông tin về họ, chữ đệm, \
    tên, ngày tháng năm sinh, giới tính, dân tộc, quốc tịch, nơi sinh, quê quán và thông tin của cha, mẹ đã được \
    đối chiếu với Cơ sở dữ liệu quốc gia về dân cư và ghi vào Sổ đăng ký khai sinh.";

fn sample_document() -> ResultDocument {
    ResultDocument {
        agency_name: "Ủy ban nhân dân xã Đông Phong".to_owned(),
        agency_code: "H22.26.07".to_owned(),
        document_number: "125/QĐ-UBND".to_owned(),
        title: "GIẤY CHỨNG NHẬN ĐĂNG KÝ KHAI SINH".to_owned(),
        dossier_code: "H22.26.07-261127-0042".to_owned(),
        applicant_name: "Nguyễn Thị Hương Giang".to_owned(),
        applicant_personal_id: "027195001234".to_owned(),
        procedure_name: "Đăng ký khai sinh".to_owned(),
        body_paragraphs: vec![
            LONG_PARAGRAPH.to_owned(),
            "Họ, chữ đệm, tên: Trần Minh Khôi. Ngày, tháng, năm sinh: 03/11/2026. Giới tính: Nam. Dân tộc: Kinh. \
             Quốc tịch: Việt Nam."
                .to_owned(),
            "Giấy chứng nhận này có giá trị kể từ ngày ký.".to_owned(),
        ],
        place_and_date: "Kinh Bắc, ngày 27 tháng 11 năm 2026".to_owned(),
        signer_title: "TM. Ủy ban nhân dân\nChủ tịch".to_owned(),
        signer_name: "Lê Văn Đức".to_owned(),
        verification_url: "https://dichvucong.kinhbac.gov.vn/xac-thuc/H22.26.07-261127-0042?k=9f2c4e1a".to_owned(),
    }
}

const CREATED_AT: CreationDate = CreationDate {
    year: 2026,
    month: 11,
    day: 27,
    hour: 3,
    minute: 15,
    second: 0,
};

fn render(document: &ResultDocument, created_at: CreationDate) -> Vec<u8> {
    let renderer = ResultRenderer::new().expect("the embedded fonts parse");
    renderer
        .render(document, created_at)
        .expect("the sample fits on one page")
}

/// The dictionary and inflated stream (if any) of every indirect object, by object number.
fn objects(pdf: &[u8]) -> HashMap<u32, (String, Vec<u8>)> {
    let mut found = HashMap::new();
    let mut rest = pdf;
    while let Some(marker) = find(rest, b" 0 obj") {
        let number_start = rest[..marker]
            .iter()
            .rposition(|byte| !byte.is_ascii_digit())
            .map_or(0, |i| i + 1);
        let number: u32 = std::str::from_utf8(&rest[number_start..marker])
            .expect("ASCII")
            .parse()
            .expect("a number");
        let body_start = marker + b" 0 obj".len();
        let body_end = body_start + find(&rest[body_start..], b"endobj").expect("every object ends");
        let body = &rest[body_start..body_end];
        let (dictionary, data) = match find(body, b"stream") {
            Some(stream_start) => {
                let dictionary = String::from_utf8_lossy(&body[..stream_start]).into_owned();
                let data_start = stream_start + b"stream".len() + usize::from(body[stream_start + 6] == b'\r') + 1;
                let data_end = rfind(body, b"endstream").expect("every stream ends");
                let raw = &body[data_start..data_end];
                let mut inflated = Vec::new();
                if dictionary.contains("/FlateDecode") {
                    flate2::read::ZlibDecoder::new(raw)
                        .read_to_end(&mut inflated)
                        .expect("a valid zlib stream");
                } else {
                    inflated = raw.to_vec();
                }
                (dictionary, inflated)
            }
            None => (String::from_utf8_lossy(body).into_owned(), Vec::new()),
        };
        found.insert(number, (dictionary, data));
        rest = &rest[body_end..];
    }
    found
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}

fn rfind(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|window| window == needle)
}

/// The object number after `key` in a dictionary, as in `/ToUnicode 14 0 R`.
fn reference(dictionary: &str, key: &str) -> u32 {
    let after = &dictionary[dictionary.find(key).expect("the key is present") + key.len()..];
    after
        .split_whitespace()
        .next()
        .expect("a reference")
        .parse()
        .expect("an object number")
}

/// Reads the strings of a content-stream or `CMap` fragment, literal `(...)` and hexadecimal
/// `<...>`, in order, skipping dictionaries `<<...>>`.
fn pdf_strings(text: &[u8]) -> Vec<Vec<u8>> {
    let mut strings = Vec::new();
    let mut index = 0;
    while index < text.len() {
        match text[index] {
            b'<' if text.get(index + 1) == Some(&b'<') => index += 2,
            b'<' => {
                let close = index + find(&text[index..], b">").expect("hex strings close");
                let digits: Vec<u8> = text[index + 1..close]
                    .iter()
                    .filter(|byte| byte.is_ascii_hexdigit())
                    .map(|&byte| u8::try_from(char::from(byte).to_digit(16).expect("a digit")).expect("below 16"))
                    .collect();
                strings.push(
                    digits
                        .chunks(2)
                        .map(|pair| pair[0] * 16 + pair.get(1).copied().unwrap_or(0))
                        .collect(),
                );
                index = close + 1;
            }
            b'(' => {
                let mut string = Vec::new();
                let mut depth = 1;
                index += 1;
                while depth > 0 {
                    let byte = text[index];
                    index += 1;
                    match byte {
                        b'\\' => {
                            let escaped = text[index];
                            index += 1;
                            match escaped {
                                b'n' => string.push(b'\n'),
                                b'r' => string.push(b'\r'),
                                b't' => string.push(b'\t'),
                                b'b' => string.push(8),
                                b'f' => string.push(12),
                                b'0'..=b'7' => {
                                    let mut value = u32::from(escaped - b'0');
                                    for _ in 0..2 {
                                        if let Some(digit @ b'0'..=b'7') = text.get(index) {
                                            value = value * 8 + u32::from(digit - b'0');
                                            index += 1;
                                        }
                                    }
                                    string.push(u8::try_from(value & 0xff).expect("masked to a byte"));
                                }
                                other => string.push(other),
                            }
                        }
                        b'(' => {
                            depth += 1;
                            string.push(byte);
                        }
                        b')' => {
                            depth -= 1;
                            if depth > 0 {
                                string.push(byte);
                            }
                        }
                        _ => string.push(byte),
                    }
                }
                strings.push(string);
            }
            _ => index += 1,
        }
    }
    strings
}

/// Parses the `bfchar` and `bfrange` sections of a `ToUnicode` `CMap`.
fn to_unicode_map(cmap: &[u8]) -> HashMap<u16, String> {
    let text = String::from_utf8_lossy(cmap);
    let utf16 = |bytes: &[u8]| {
        let units: Vec<u16> = bytes
            .chunks(2)
            .map(|unit| u16::from_be_bytes([unit[0], unit[1]]))
            .collect();
        String::from_utf16(&units).expect("valid UTF-16")
    };
    let code = |bytes: &[u8]| u16::from_be_bytes([bytes[0], bytes[1]]);
    let mut map = HashMap::new();
    for section in text.split("beginbfchar").skip(1) {
        let section = section.split("endbfchar").next().expect("a section");
        for pair in pdf_strings(section.as_bytes()).chunks_exact(2) {
            map.insert(code(&pair[0]), utf16(&pair[1]));
        }
    }
    for section in text.split("beginbfrange").skip(1) {
        let section = section.split("endbfrange").next().expect("a section");
        for triple in pdf_strings(section.as_bytes()).chunks_exact(3) {
            let (first, last) = (code(&triple[0]), code(&triple[1]));
            let mut units: Vec<u16> = triple[2]
                .chunks(2)
                .map(|unit| u16::from_be_bytes([unit[0], unit[1]]))
                .collect();
            for glyph_code in first..=last {
                map.insert(glyph_code, String::from_utf16(&units).expect("valid UTF-16"));
                *units.last_mut().expect("a unit") += 1;
            }
        }
    }
    map
}

/// Extracts the page's text the way a viewer's copy and search do: the glyph codes that the
/// content stream shows with each font, mapped through that font's `ToUnicode` `CMap`, one output
/// line per text object. It reads only what this renderer writes (one page, Type 0 fonts with
/// two-byte codes) and is not a general PDF text extractor.
fn extract_text(pdf: &[u8]) -> String {
    let objects = objects(pdf);
    let (page, _) = objects
        .values()
        .find(|(dictionary, _)| dictionary.contains("/Type/Page/"))
        .expect("a page");
    let (resources, _) = &objects[&reference(page, "/Resources")];
    let fonts = &resources[resources.find("/Font<<").expect("font resources") + "/Font<<".len()..];
    let fonts = &fonts[..fonts.find(">>").expect("the font dictionary closes")];
    let mut to_unicode: HashMap<String, HashMap<u16, String>> = HashMap::new();
    for entry in fonts.split('/').skip(1) {
        let name = entry.split_whitespace().next().expect("a font name").to_owned();
        let (font, _) = &objects[&reference(&format!("/{entry}"), &format!("/{name}"))];
        let (_, cmap) = &objects[&reference(font, "/ToUnicode")];
        to_unicode.insert(name, to_unicode_map(cmap));
    }
    let (_, content) = &objects[&reference(page, "/Contents")];
    let content = String::from_utf8_lossy(content);
    let mut text = String::new();
    let mut font = String::new();
    for text_object in content.split("BT").skip(1) {
        let text_object = text_object.split("ET").next().expect("a text object");
        if let Some(tf) = text_object.find(" Tf") {
            let before = &text_object[..tf];
            let name_start = before.rfind('/').expect("a font operand");
            before[name_start + 1..]
                .split_whitespace()
                .next()
                .expect("a font name")
                .clone_into(&mut font);
        }
        let map = &to_unicode[&font];
        let shown_from = text_object.find("Tm").map_or(0, |tm| tm + 2);
        for string in pdf_strings(&text_object.as_bytes()[shown_from..]) {
            for code in string.chunks_exact(2) {
                text.push_str(
                    map.get(&u16::from_be_bytes([code[0], code[1]]))
                        .map_or("\u{fffd}", String::as_str),
                );
            }
        }
        text.push('\n');
    }
    text
}

#[test]
fn a_rendered_document_is_a_complete_pdf() {
    let pdf = render(&sample_document(), CREATED_AT);
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(pdf.trim_ascii_end().ends_with(b"%%EOF"));
    let n_pages = objects(&pdf)
        .values()
        .filter(|(dictionary, _)| dictionary.contains("/Type/Page/"))
        .count();
    assert_eq!(n_pages, 1);
}

#[test]
fn the_fonts_are_embedded_as_subsets() {
    let pdf = render(&sample_document(), CREATED_AT);
    let text = String::from_utf8_lossy(&pdf);
    assert!(text.contains("/FontFile2"), "a TrueType font program is embedded");
    assert!(text.contains("+DejaVuSans-Bold"), "the bold face is subset");
    assert!(text.contains("+DejaVuSans"), "the regular face is subset");
    // Each face is about 700 kB whole; subsets of the few letters used are far smaller.
    assert!(pdf.len() < 120_000, "the document is {} bytes", pdf.len());
}

#[test]
fn vietnamese_text_reads_back_from_the_pdf() {
    let document = sample_document();
    let pdf = render(&document, CREATED_AT);
    let text = extract_text(&pdf);
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for expected in [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "GIẤY CHỨNG NHẬN ĐĂNG KÝ KHAI SINH",
        "ỦY BAN NHÂN DÂN XÃ ĐÔNG PHONG",
        "Số: 125/QĐ-UBND",
        "Người nộp hồ sơ: Nguyễn Thị Hương Giang",
        "Kinh Bắc, ngày 27 tháng 11 năm 2026",
        "Lê Văn Đức",
        "Quét mã để kiểm tra tính xác thực",
    ] {
        assert!(flat.contains(expected), "{expected:?} is missing from:\n{text}");
    }
    let long_paragraph = LONG_PARAGRAPH.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains(&long_paragraph),
        "the long paragraph reads back whole:\n{text}"
    );
    let n_paragraph_lines = text.lines().filter(|line| long_paragraph.contains(line.trim())).count();
    assert!(
        n_paragraph_lines >= 5,
        "the long paragraph is wrapped, not one line: {n_paragraph_lines}"
    );
}

#[test]
fn the_same_input_gives_the_same_bytes() {
    let document = sample_document();
    let first = render(&document, CREATED_AT);
    let second = render(&document, CREATED_AT);
    assert!(first == second, "two renderings differ");
    let later = CreationDate {
        second: 1,
        ..CREATED_AT
    };
    assert!(
        render(&document, later) != first,
        "the creation date is part of the document"
    );
}

#[test]
fn a_document_longer_than_a_page_is_refused() {
    let mut document = sample_document();
    document.body_paragraphs = vec![LONG_PARAGRAPH.to_owned(); 12];
    let renderer = ResultRenderer::new().expect("the embedded fonts parse");
    let result = renderer.render(&document, CREATED_AT);
    assert!(matches!(result, Err(RenderError::DoesNotFit)), "got {result:?}");
}

#[test]
fn a_signature_verifies_against_the_signed_bytes() {
    let key = AgencySigningKey::generate().expect("a key is generated");
    let pdf = render(&sample_document(), CREATED_AT);
    let signature = key.sign(&pdf).expect("the document is signed");
    assert_eq!(signature.algorithm, "ES256");
    assert_eq!(signature.key_id, key.key_id());
    assert_eq!(signature.key_id.len(), 16);
    assert_eq!(signature.sha256_hex.len(), 64);
    assert_eq!(verify(key.public_key_pem(), &pdf, &signature), Ok(()));
    assert_eq!(
        key.sign(&pdf).expect("signed again"),
        signature,
        "RFC 6979 signatures are reproducible"
    );
}

#[test]
fn a_key_survives_a_pem_round_trip() {
    let key = AgencySigningKey::generate().expect("a key is generated");
    let pem = key.to_pkcs8_pem().expect("the key encodes");
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    let reloaded = AgencySigningKey::from_pkcs8_pem(&pem).expect("the key decodes");
    assert_eq!(reloaded.key_id(), key.key_id());
    assert_eq!(reloaded.public_key_pem(), key.public_key_pem());
    let signature = reloaded.sign(b"document").expect("signed");
    assert_eq!(verify(key.public_key_pem(), b"document", &signature), Ok(()));
    assert!(
        !format!("{key:?}").contains(&pem[40..80]),
        "Debug never shows the private key"
    );
    assert!(
        AgencySigningKey::from_pkcs8_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n").is_err()
    );
}

#[test]
fn a_flipped_byte_is_reported_as_a_changed_document() {
    let key = AgencySigningKey::generate().expect("a key is generated");
    let mut pdf = render(&sample_document(), CREATED_AT);
    let signature = key.sign(&pdf).expect("the document is signed");
    let middle = pdf.len() / 2;
    pdf[middle] ^= 0x01;
    assert_eq!(
        verify(key.public_key_pem(), &pdf, &signature),
        Err(VerifyError::DocumentChanged)
    );
}

#[test]
fn another_keys_signature_is_refused() {
    let agency_key = AgencySigningKey::generate().expect("a key is generated");
    let other_key = AgencySigningKey::generate().expect("a key is generated");
    let pdf = render(&sample_document(), CREATED_AT);
    let signature = other_key.sign(&pdf).expect("the document is signed");
    assert!(matches!(
        verify(agency_key.public_key_pem(), &pdf, &signature),
        Err(VerifyError::KeyMismatch { .. })
    ));
    // A record relabelled with the agency's key id still fails on the signature itself.
    let relabelled = DetachedSignature {
        key_id: agency_key.key_id().to_owned(),
        ..signature
    };
    assert_eq!(
        verify(agency_key.public_key_pem(), &pdf, &relabelled),
        Err(VerifyError::BadSignature)
    );
}

#[test]
fn a_recorded_digest_that_was_edited_is_a_bad_signature() {
    let key = AgencySigningKey::generate().expect("a key is generated");
    let pdf = b"%PDF-1.7 a small document";
    let signature = key.sign(pdf).expect("signed");
    let mut edited = signature.clone();
    edited
        .sha256_hex
        .replace_range(0..1, if edited.sha256_hex.starts_with('0') { "1" } else { "0" });
    assert_eq!(
        verify(key.public_key_pem(), pdf, &edited),
        Err(VerifyError::BadSignature)
    );
    let mut garbled = signature.clone();
    garbled.signature_base64url.push('!');
    assert_eq!(
        verify(key.public_key_pem(), pdf, &garbled),
        Err(VerifyError::MalformedSignature)
    );
    let other_algorithm = DetachedSignature {
        algorithm: "RS256".to_owned(),
        ..signature
    };
    assert!(matches!(
        verify(key.public_key_pem(), pdf, &other_algorithm),
        Err(VerifyError::UnsupportedAlgorithm(_))
    ));
    assert_eq!(verify("not a key", pdf, &edited), Err(VerifyError::InvalidPublicKey));
}

#[test]
fn the_renderer_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ResultRenderer>();
    assert_send_sync::<AgencySigningKey>();
}
