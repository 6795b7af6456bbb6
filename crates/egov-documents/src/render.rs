//! Renders the result document (kết quả giải quyết thủ tục hành chính) of a dossier as a
//! one-page A4 PDF laid out like a Vietnamese administrative document.
//!
//! It owns the fonts, the line breaking and the QR code. It must not sign, store or fetch
//! anything, and it must not read the clock: the caller passes the creation date, so the same
//! input always gives the same bytes and a signature over them can be reproduced.

use krilla::Document;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::{DateTime, Metadata};
use krilla::page::PageSettings;
use krilla::paint::Fill;
use krilla::surface::Surface;
use krilla::text::{Font, GlyphId, KrillaGlyph};
use qrcode::{Color, EcLevel, QrCode};

/// `DejaVu Sans` covers the precomposed Vietnamese letters (U+1EA0–U+1EF9) and the combining
/// tone marks; it is embedded so that rendering never depends on the host's fonts.
const REGULAR_FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
const BOLD_FONT: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

/// A4 in PostScript points.
const PAGE_WIDTH: f32 = 595.276;
const PAGE_HEIGHT: f32 = 841.89;
/// Margins of Decree 30/2020/ND-CP on administrative documents: 30 mm left, 20 mm elsewhere.
const MARGIN_LEFT: f32 = 85.04;
const MARGIN_RIGHT: f32 = 56.69;
const MARGIN_TOP: f32 = 56.69;
const MARGIN_BOTTOM: f32 = 56.69;
const CONTENT_WIDTH: f32 = PAGE_WIDTH - MARGIN_LEFT - MARGIN_RIGHT;
/// The header's left column holds the agency; the right one the national title, which is the
/// longer text and so gets the wider share.
const HEADER_LEFT_WIDTH: f32 = 200.0;
const COLUMN_GAP: f32 = 8.0;
const RIGHT_COLUMN_X: f32 = MARGIN_LEFT + HEADER_LEFT_WIDTH + COLUMN_GAP;
const RIGHT_COLUMN_WIDTH: f32 = PAGE_WIDTH - MARGIN_RIGHT - RIGHT_COLUMN_X;

const HEADER_SIZE: f32 = 10.0;
const MOTTO_SIZE: f32 = 11.0;
const TITLE_SIZE: f32 = 14.0;
const BODY_SIZE: f32 = 11.0;
const CAPTION_SIZE: f32 = 7.5;
/// Line pitch as a multiple of the font size; Vietnamese stacks a tone mark over a vowel mark
/// (ễ, ặ), so the lines need more room than Latin text would.
const LINE_SPACING: f32 = 1.4;
const PARAGRAPH_GAP: f32 = 4.0;
const FIRST_LINE_INDENT: f32 = 28.35;
/// Justification stops stretching spaces beyond this many ems, where a line with one long word
/// would look worse justified than ragged.
const MAX_JUSTIFY_STRETCH_EM: f32 = 0.8;
const RULE_THICKNESS: f32 = 0.6;

/// The BCP 47 tag of the document's language, for shaping and for the PDF's `/Lang`.
const VIETNAMESE: &str = "vi";
const QR_SIZE: f32 = 85.0;
const QR_CAPTION_WIDTH: f32 = 160.0;
const QR_CAPTION: &str = "Quét mã để kiểm tra tính xác thực";
const NATIONAL_TITLE: &str = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM";
const NATIONAL_MOTTO: &str = "Độc lập - Tự do - Hạnh phúc";
const SIGNED_NOTE: &str = "(Đã ký số)";
/// Room left between the signer's title and name for a handwritten signature and seal on a
/// printed copy.
const SIGNATURE_SPACE: f32 = 48.0;

/// The content of a result document, as the back office approved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultDocument {
    pub agency_name: String,
    pub agency_code: String,
    /// The number and symbol of the document, such as `125/QĐ-UBND`.
    pub document_number: String,
    /// The document's title in capitals, such as `GIẤY CHỨNG NHẬN ĐĂNG KÝ KHAI SINH`.
    pub title: String,
    pub dossier_code: String,
    pub applicant_name: String,
    pub applicant_personal_id: String,
    pub procedure_name: String,
    pub body_paragraphs: Vec<String>,
    /// Such as `Kinh Bắc, ngày 27 tháng 11 năm 2026`.
    pub place_and_date: String,
    pub signer_title: String,
    pub signer_name: String,
    pub verification_url: String,
}

/// The creation date written into the PDF's metadata, in UTC.
///
/// It is an input rather than read from the clock so that rendering is reproducible; out of
/// range fields are clamped to the nearest valid value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreationDate {
    pub year: u16,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

impl CreationDate {
    fn to_krilla(self) -> DateTime {
        DateTime::new(self.year)
            .month(self.month)
            .day(self.day)
            .hour(self.hour)
            .minute(self.minute)
            .second(self.second)
            .utc_offset_hour(0)
            .utc_offset_minute(0)
    }
}

/// Why a result document could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("the embedded font {0} could not be parsed")]
    Font(&'static str),
    #[error("the verification URL cannot be encoded as a QR code")]
    QrCode(#[from] qrcode::types::QrError),
    #[error("the embedded fonts have no glyph for {character:?}")]
    MissingGlyph { character: char },
    #[error("the document does not fit on one A4 page")]
    DoesNotFit,
    #[error("a computed shape was degenerate")]
    Geometry,
    #[error("the PDF could not be written")]
    Pdf(#[from] krilla::error::KrillaError),
}

/// One embedded font: the shaper's view for measuring and the PDF writer's view for drawing.
struct FontFace {
    shaper: rustybuzz::Face<'static>,
    /// Building a shaping plan reads the font's whole layout tables, so it is done once per face
    /// for the one kind of run this document has: Vietnamese in Latin script, left to right.
    plan: rustybuzz::ShapePlan,
    language: rustybuzz::Language,
    pdf_font: Font,
    units_per_em: f32,
    /// The ascender as a fraction of the em, to place the first baseline below a block's top.
    ascender_em: f32,
}

impl FontFace {
    fn load(name: &'static str, data: &'static [u8]) -> Result<Self, RenderError> {
        let shaper = rustybuzz::Face::from_slice(data, 0).ok_or(RenderError::Font(name))?;
        let pdf_font = Font::new(data.into(), 0).ok_or(RenderError::Font(name))?;
        let units_per_em = f32::from(u16::try_from(shaper.units_per_em()).map_err(|_| RenderError::Font(name))?);
        let ascender_em = f32::from(shaper.ascender()) / units_per_em;
        let language = VIETNAMESE
            .parse::<rustybuzz::Language>()
            .map_err(|_| RenderError::Font(name))?;
        let plan = rustybuzz::ShapePlan::new(
            &shaper,
            rustybuzz::Direction::LeftToRight,
            Some(rustybuzz::script::LATIN),
            Some(&language),
            &[],
        );
        Ok(Self {
            shaper,
            plan,
            language,
            pdf_font,
            units_per_em,
            ascender_em,
        })
    }

    /// Shapes a single left-to-right run, with advances in ems as krilla expects.
    ///
    /// A character the font lacks would print as an empty box, which on a legal document is a
    /// wrong name rather than a cosmetic flaw, so it is an error instead.
    fn shape(&self, text: &str) -> Result<Vec<KrillaGlyph>, RenderError> {
        let mut buffer = rustybuzz::UnicodeBuffer::new();
        buffer.push_str(text);
        // The buffer's properties must match the plan's; digits and punctuation, which have no
        // script of their own, shape the same under Latin.
        buffer.set_direction(rustybuzz::Direction::LeftToRight);
        buffer.set_script(rustybuzz::script::LATIN);
        buffer.set_language(self.language.clone());
        let output = rustybuzz::shape_with_plan(&self.shaper, &self.plan, buffer);
        let infos = output.glyph_infos();
        let positions = output.glyph_positions();
        let mut glyphs = Vec::with_capacity(infos.len());
        for (index, (info, position)) in infos.iter().zip(positions).enumerate() {
            let start = cluster_start(info);
            if info.glyph_id == 0 {
                let character = text
                    .get(start..)
                    .and_then(|rest| rest.chars().next())
                    .unwrap_or('\u{fffd}');
                return Err(RenderError::MissingGlyph { character });
            }
            // A cluster spans up to the start of the next cluster, which in left-to-right text
            // is the next glyph whose cluster differs.
            let end = infos[index + 1..]
                .iter()
                .map(cluster_start)
                .find(|&next| next != start)
                .unwrap_or(text.len());
            glyphs.push(KrillaGlyph::new(
                GlyphId::new(info.glyph_id),
                self.em(position.x_advance),
                self.em(position.x_offset),
                self.em(position.y_offset),
                self.em(position.y_advance),
                start..end,
                None,
            ));
        }
        Ok(glyphs)
    }

    fn em(&self, font_units: i32) -> f32 {
        // Glyph positions are small integers in font units, far inside f32's exact range.
        #[allow(clippy::cast_precision_loss)]
        let font_units = font_units as f32;
        font_units / self.units_per_em
    }
}

fn cluster_start(info: &rustybuzz::GlyphInfo) -> usize {
    // Clusters are byte offsets into a string that fits in memory, so they fit in usize.
    usize::try_from(info.cluster).unwrap_or(usize::MAX)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Center,
    Justify,
}

/// One laid-out line: a range of a paragraph's glyphs and its natural width in ems.
struct Line {
    glyphs: Vec<KrillaGlyph>,
    width_em: f32,
    n_spaces: usize,
}

/// A paragraph shaped once and broken into lines.
struct Block {
    text: String,
    lines: Vec<Line>,
}

/// A piece of a paragraph that is never broken: a word, or a part of a word wider than a line.
struct Piece {
    glyphs: std::ops::Range<usize>,
    width_em: f32,
}

/// Shapes `text` with its whitespace collapsed and breaks it greedily at spaces so that no line
/// is wider than `width` points (the first line `first_width`). A word wider than a whole line
/// is broken between clusters rather than allowed to run off the page.
fn layout(face: &FontFace, text: &str, size: f32, first_width: f32, width: f32) -> Result<Block, RenderError> {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let glyphs = face.shape(&text)?;
    let is_space = |glyph: &KrillaGlyph| text.get(glyph.text_range.clone()) == Some(" ");
    let space_em = glyphs
        .iter()
        .find(|glyph| is_space(glyph))
        .map_or(0.25, |glyph| glyph.x_advance);
    let narrowest_em = first_width.min(width) / size;

    let mut pieces: Vec<Piece> = Vec::new();
    let mut start = 0;
    while start < glyphs.len() {
        let end = glyphs[start..]
            .iter()
            .position(is_space)
            .map_or(glyphs.len(), |offset| start + offset);
        split_word(&glyphs, start..end, narrowest_em, &mut pieces);
        // Skip the single space that follows the word; the line builder adds spaces back.
        start = end + 1;
    }

    let mut lines = Vec::new();
    let mut line_pieces: Vec<&Piece> = Vec::new();
    let mut line_width_em = 0.0;
    for piece in &pieces {
        let available_em = if lines.is_empty() { first_width } else { width } / size;
        let added_em = if line_pieces.is_empty() {
            piece.width_em
        } else {
            space_em + piece.width_em
        };
        if !line_pieces.is_empty() && line_width_em + added_em > available_em {
            lines.push(build_line(&glyphs, &line_pieces, line_width_em));
            line_pieces.clear();
            line_width_em = piece.width_em;
        } else {
            line_width_em += added_em;
        }
        line_pieces.push(piece);
    }
    if !line_pieces.is_empty() {
        lines.push(build_line(&glyphs, &line_pieces, line_width_em));
    }
    Ok(Block { text, lines })
}

/// Adds the word made of `glyphs[range]` to `pieces`, cut between clusters if it is wider than
/// `max_em`.
fn split_word(glyphs: &[KrillaGlyph], range: std::ops::Range<usize>, max_em: f32, pieces: &mut Vec<Piece>) {
    let mut piece_start = range.start;
    let mut piece_em = 0.0;
    for index in range.clone() {
        let glyph_em = glyphs[index].x_advance;
        let starts_cluster = index == range.start || glyphs[index].text_range != glyphs[index - 1].text_range;
        if starts_cluster && index > piece_start && piece_em + glyph_em > max_em {
            pieces.push(Piece {
                glyphs: piece_start..index,
                width_em: piece_em,
            });
            piece_start = index;
            piece_em = 0.0;
        }
        piece_em += glyph_em;
    }
    if range.end > piece_start {
        pieces.push(Piece {
            glyphs: piece_start..range.end,
            width_em: piece_em,
        });
    }
}

fn build_line(glyphs: &[KrillaGlyph], pieces: &[&Piece], width_em: f32) -> Line {
    let mut line_glyphs = Vec::new();
    let mut n_spaces = 0;
    for (index, piece) in pieces.iter().enumerate() {
        if index > 0 {
            // The space glyph sits just before the word in the shaped run, unless the piece is
            // the tail of a word that was cut, where there is no space to keep.
            let before = piece.glyphs.start.checked_sub(1).map(|space| &glyphs[space]);
            if let Some(space) = before.filter(|_| pieces[index - 1].glyphs.end < piece.glyphs.start) {
                line_glyphs.push(space.clone());
                n_spaces += 1;
            }
        }
        line_glyphs.extend_from_slice(&glyphs[piece.glyphs.clone()]);
    }
    Line {
        glyphs: line_glyphs,
        width_em,
        n_spaces,
    }
}

/// Where a block goes on the page: its left edge and how wide it may be.
#[derive(Debug, Clone, Copy)]
struct Frame {
    x: f32,
    width: f32,
}

const LEFT_COLUMN: Frame = Frame {
    x: MARGIN_LEFT,
    width: HEADER_LEFT_WIDTH,
};
const RIGHT_COLUMN: Frame = Frame {
    x: RIGHT_COLUMN_X,
    width: RIGHT_COLUMN_WIDTH,
};
const FULL_WIDTH: Frame = Frame {
    x: MARGIN_LEFT,
    width: CONTENT_WIDTH,
};

/// How a run of text looks: the face, the size and the alignment within its frame.
#[derive(Clone, Copy)]
struct Style<'a> {
    face: &'a FontFace,
    size: f32,
    align: Align,
}

/// The two embedded faces, parsed once and reused for every document.
///
/// Parsing and hashing the embedded fonts costs more than laying out a page, which is why this
/// is a value to keep (for example in the application state) rather than a free function.
pub struct ResultRenderer {
    regular: FontFace,
    bold: FontFace,
}

impl std::fmt::Debug for ResultRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultRenderer").finish_non_exhaustive()
    }
}

impl ResultRenderer {
    /// Parses the embedded fonts.
    ///
    /// # Errors
    /// Returns [`RenderError::Font`] if an embedded font cannot be parsed, which would mean the
    /// crate was built with a broken font file.
    pub fn new() -> Result<Self, RenderError> {
        Ok(Self {
            regular: FontFace::load("DejaVuSans", REGULAR_FONT)?,
            bold: FontFace::load("DejaVuSans-Bold", BOLD_FONT)?,
        })
    }

    /// Renders `document` as a one-page A4 PDF with the fonts subset and embedded.
    ///
    /// # Errors
    /// Returns [`RenderError::DoesNotFit`] when the text needs more than one page,
    /// [`RenderError::MissingGlyph`] for a character the fonts lack, [`RenderError::QrCode`]
    /// when the verification URL is too long for a QR code, and [`RenderError::Pdf`] when the
    /// PDF writer fails.
    pub fn render(&self, document: &ResultDocument, created_at: CreationDate) -> Result<Vec<u8>, RenderError> {
        let mut pdf = Document::new();
        // Both dates are set from the input; krilla writes the creation date as the
        // modification date too, and derives the file identifier from the content.
        pdf.set_metadata(
            Metadata::new()
                .title(document.title.clone())
                .creator("egov".to_owned())
                .producer("egov".to_owned())
                .language(VIETNAMESE.to_owned())
                .creation_date(created_at.to_krilla()),
        );
        let page_settings = PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT).ok_or(RenderError::Geometry)?;
        let mut page = pdf.start_page_with(page_settings);
        let mut surface = page.surface();
        surface.set_fill(Some(Fill::default()));
        let header_bottom = self.draw_header(&mut surface, document)?;
        let body_bottom = self.draw_body(&mut surface, document, header_bottom)?;
        self.draw_signature_and_qr_code(&mut surface, document, body_bottom)?;
        surface.finish();
        page.finish();
        Ok(pdf.finish()?)
    }

    fn regular(&self, size: f32, align: Align) -> Style<'_> {
        Style {
            face: &self.regular,
            size,
            align,
        }
    }

    fn bold(&self, size: f32, align: Align) -> Style<'_> {
        Style {
            face: &self.bold,
            size,
            align,
        }
    }

    /// Draws the two header columns and returns the y below the taller one.
    fn draw_header(&self, surface: &mut Surface<'_>, document: &ResultDocument) -> Result<f32, RenderError> {
        // The agency column: name in capitals, a short rule, then the number and the code.
        let agency = document.agency_name.to_uppercase();
        let mut left_y = draw_text(
            surface,
            self.bold(HEADER_SIZE, Align::Center),
            &agency,
            LEFT_COLUMN,
            MARGIN_TOP,
        )?;
        left_y = draw_rule(surface, LEFT_COLUMN.x + LEFT_COLUMN.width / 2.0, left_y + 2.0, 50.0)? + 6.0;
        let number = format!("Số: {}", document.document_number);
        left_y = draw_text(
            surface,
            self.regular(HEADER_SIZE, Align::Center),
            &number,
            LEFT_COLUMN,
            left_y,
        )?;
        let code = format!("Mã cơ quan: {}", document.agency_code);
        left_y = draw_text(
            surface,
            self.regular(CAPTION_SIZE, Align::Center),
            &code,
            LEFT_COLUMN,
            left_y,
        )?;

        // The national title column, with the rule under the motto as wide as the motto.
        let title_style = self.bold(HEADER_SIZE, Align::Center);
        let mut right_y = draw_text(surface, title_style, NATIONAL_TITLE, RIGHT_COLUMN, MARGIN_TOP)?;
        let motto_style = self.bold(MOTTO_SIZE, Align::Center);
        let motto = layout(
            &self.bold,
            NATIONAL_MOTTO,
            MOTTO_SIZE,
            RIGHT_COLUMN.width,
            RIGHT_COLUMN.width,
        )?;
        let motto_width = motto.lines.iter().map(|line| line.width_em).fold(0.0, f32::max) * MOTTO_SIZE;
        right_y = draw_block(surface, motto_style, &motto, RIGHT_COLUMN, right_y);
        draw_rule(
            surface,
            RIGHT_COLUMN.x + RIGHT_COLUMN.width / 2.0,
            right_y + 2.0,
            motto_width,
        )?;
        Ok(left_y.max(right_y))
    }

    /// Draws the title, the dossier's facts and the paragraphs, and returns the y below them.
    fn draw_body(&self, surface: &mut Surface<'_>, document: &ResultDocument, top: f32) -> Result<f32, RenderError> {
        let title_style = self.bold(TITLE_SIZE, Align::Center);
        let mut y = draw_text(surface, title_style, &document.title, FULL_WIDTH, top + 30.0)? + 12.0;
        let facts = [
            format!("Mã hồ sơ: {}", document.dossier_code),
            format!("Thủ tục: {}", document.procedure_name),
            format!("Người nộp hồ sơ: {}", document.applicant_name),
            format!("Số định danh cá nhân: {}", document.applicant_personal_id),
        ];
        for fact in &facts {
            y = draw_text(surface, self.regular(BODY_SIZE, Align::Left), fact, FULL_WIDTH, y)?;
        }
        y += PARAGRAPH_GAP * 2.0;
        let paragraph_style = self.regular(BODY_SIZE, Align::Justify);
        for paragraph in &document.body_paragraphs {
            let first_width = FULL_WIDTH.width - FIRST_LINE_INDENT;
            let block = layout(&self.regular, paragraph, BODY_SIZE, first_width, FULL_WIDTH.width)?;
            y = draw_block(surface, paragraph_style, &block, FULL_WIDTH, y) + PARAGRAPH_GAP;
        }
        Ok(y)
    }

    /// Draws the place and date, the signer block in the right column and the QR code at the
    /// bottom left, refusing a body that would run into either.
    fn draw_signature_and_qr_code(
        &self,
        surface: &mut Surface<'_>,
        document: &ResultDocument,
        body_bottom: f32,
    ) -> Result<(), RenderError> {
        // The QR code sits at the bottom left, so the body must end above it; the signer block
        // is in the right column and may run beside it down to the bottom margin.
        let caption = layout(
            &self.regular,
            QR_CAPTION,
            CAPTION_SIZE,
            QR_CAPTION_WIDTH,
            QR_CAPTION_WIDTH,
        )?;
        let caption_height = line_height(CAPTION_SIZE) * count_f32(caption.lines.len());
        let qr_top = PAGE_HEIGHT - MARGIN_BOTTOM - caption_height - 4.0 - QR_SIZE;
        if body_bottom > qr_top - 8.0 {
            return Err(RenderError::DoesNotFit);
        }

        let centred = self.regular(BODY_SIZE, Align::Center);
        let mut y = draw_text(
            surface,
            centred,
            &document.place_and_date,
            RIGHT_COLUMN,
            body_bottom + 10.0,
        )?;
        let signer_title = document.signer_title.to_uppercase();
        y = draw_text(
            surface,
            self.bold(BODY_SIZE, Align::Center),
            &signer_title,
            RIGHT_COLUMN,
            y + 4.0,
        )?;
        y = draw_text(
            surface,
            self.regular(CAPTION_SIZE + 1.0, Align::Center),
            SIGNED_NOTE,
            RIGHT_COLUMN,
            y,
        )?;
        y += SIGNATURE_SPACE;
        y = draw_text(
            surface,
            self.bold(BODY_SIZE, Align::Center),
            &document.signer_name,
            RIGHT_COLUMN,
            y,
        )?;
        if y > PAGE_HEIGHT - MARGIN_BOTTOM {
            return Err(RenderError::DoesNotFit);
        }

        draw_qr_code(surface, &document.verification_url, MARGIN_LEFT, qr_top)?;
        let caption_frame = Frame {
            x: MARGIN_LEFT,
            width: QR_CAPTION_WIDTH,
        };
        draw_block(
            surface,
            self.regular(CAPTION_SIZE, Align::Left),
            &caption,
            caption_frame,
            qr_top + QR_SIZE + 4.0,
        );
        Ok(())
    }
}

/// Lays out and draws `text` from the top `y` of `frame`, returning the top of what follows.
/// Paragraphs go through [`layout`] directly instead, for their first-line indent.
fn draw_text(
    surface: &mut Surface<'_>,
    style: Style<'_>,
    text: &str,
    frame: Frame,
    y: f32,
) -> Result<f32, RenderError> {
    // A line break the caller wrote, as between "TM. ỦY BAN NHÂN DÂN" and "CHỦ TỊCH", is kept.
    let mut y = y;
    for line in text.lines() {
        let block = layout(style.face, line, style.size, frame.width, frame.width)?;
        y = draw_block(surface, style, &block, frame, y);
    }
    Ok(y)
}

/// Draws laid-out lines from the top `y` of `frame`, returning the top of what follows.
fn draw_block(surface: &mut Surface<'_>, style: Style<'_>, block: &Block, frame: Frame, mut y: f32) -> f32 {
    let Style { face, size, align } = style;
    let last_index = block.lines.len().saturating_sub(1);
    for (index, line) in block.lines.iter().enumerate() {
        let indent = if align == Align::Justify && index == 0 {
            FIRST_LINE_INDENT
        } else {
            0.0
        };
        let natural = line.width_em * size;
        let x = match align {
            Align::Center => frame.x + (frame.width - natural) / 2.0,
            Align::Left | Align::Justify => frame.x + indent,
        };
        let start = Point::from_xy(x, y + face.ascender_em * size);
        let stretch_em = if align == Align::Justify && index < last_index && line.n_spaces > 0 {
            (frame.width - indent - natural) / size / count_f32(line.n_spaces)
        } else {
            0.0
        };
        if stretch_em > 0.0 && stretch_em <= MAX_JUSTIFY_STRETCH_EM {
            let stretched: Vec<KrillaGlyph> = line
                .glyphs
                .iter()
                .map(|glyph| {
                    let mut glyph = glyph.clone();
                    if block.text.get(glyph.text_range.clone()) == Some(" ") {
                        glyph.x_advance += stretch_em;
                    }
                    glyph
                })
                .collect();
            surface.draw_glyphs(start, &stretched, face.pdf_font.clone(), &block.text, size, false);
        } else {
            surface.draw_glyphs(start, &line.glyphs, face.pdf_font.clone(), &block.text, size, false);
        }
        y += line_height(size);
    }
    y
}

fn line_height(size: f32) -> f32 {
    size * LINE_SPACING
}

fn count_f32(count: usize) -> f32 {
    // Line and space counts on one page are tiny, so the conversion is exact.
    #[allow(clippy::cast_precision_loss)]
    let count = count as f32;
    count
}

/// Draws a horizontal rule of `width` centred on `center_x`, returning the y below it.
fn draw_rule(surface: &mut Surface<'_>, center_x: f32, y: f32, width: f32) -> Result<f32, RenderError> {
    let rect = Rect::from_xywh(center_x - width / 2.0, y, width, RULE_THICKNESS).ok_or(RenderError::Geometry)?;
    let mut path = PathBuilder::new();
    path.push_rect(rect);
    surface.draw_path(&path.finish().ok_or(RenderError::Geometry)?);
    Ok(y + RULE_THICKNESS)
}

/// Draws the QR code of `url` as filled rectangles, one per horizontal run of dark modules so
/// that the content stream stays small and viewers show no seams between modules.
fn draw_qr_code(surface: &mut Surface<'_>, url: &str, x: f32, y: f32) -> Result<(), RenderError> {
    let code = QrCode::with_error_correction_level(url.as_bytes(), EcLevel::M)?;
    let n_modules = code.width();
    let colors = code.to_colors();
    let module = QR_SIZE / count_f32(n_modules);
    let mut path = PathBuilder::new();
    for (row, row_colors) in colors.chunks_exact(n_modules).enumerate() {
        let mut column = 0;
        while column < n_modules {
            if row_colors[column] == Color::Dark {
                let run = row_colors[column..]
                    .iter()
                    .take_while(|&&color| color == Color::Dark)
                    .count();
                let rect = Rect::from_xywh(
                    x + count_f32(column) * module,
                    y + count_f32(row) * module,
                    count_f32(run) * module,
                    module,
                )
                .ok_or(RenderError::Geometry)?;
                path.push_rect(rect);
                column += run;
            } else {
                column += 1;
            }
        }
    }
    surface.draw_path(&path.finish().ok_or(RenderError::Geometry)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{BOLD_FONT, FontFace, REGULAR_FONT, RenderError, layout};

    #[test]
    fn no_wrapped_line_is_wider_than_the_frame() {
        let face = FontFace::load("DejaVuSans", REGULAR_FONT).expect("the embedded font parses");
        let text = "Ủy ban nhân dân xã chứng nhận việc đăng ký khai sinh đã được thực hiện đúng quy định \
                    của pháp luật về hộ tịch. Mãsốnàyrấtdàivàkhôngcókhoảngtrắngnàocảđểkiểmtraviệcngắtgiữatừ.";
        let block = layout(&face, text, 11.0, 150.0, 180.0).expect("Vietnamese text lays out");
        assert!(block.lines.len() > 3, "a long text needs several lines");
        for (index, line) in block.lines.iter().enumerate() {
            let limit = if index == 0 { 150.0 } else { 180.0 };
            assert!(
                line.width_em * 11.0 <= limit + 0.01,
                "line {index} is {} pt wide",
                line.width_em * 11.0
            );
        }
        let glyph_count: usize = block.lines.iter().map(|line| line.glyphs.len()).sum();
        let non_space_chars = block.text.chars().filter(|c| *c != ' ').count();
        assert_eq!(
            glyph_count - block.lines.iter().map(|line| line.n_spaces).sum::<usize>(),
            non_space_chars
        );
    }

    #[test]
    fn combining_tone_marks_shape_to_the_precomposed_glyph() {
        let face = FontFace::load("DejaVuSans", REGULAR_FONT).expect("the embedded font parses");
        // "Việt" with the tone mark typed as U+0323 after "ê", as some Vietnamese keyboards send it.
        let decomposed = face.shape("Vi\u{ea}\u{323}t").expect("shaped");
        let precomposed = face.shape("Vi\u{1ec7}t").expect("shaped");
        let ids = |glyphs: &[krilla::text::KrillaGlyph]| glyphs.iter().map(|g| g.glyph_id).collect::<Vec<_>>();
        assert_eq!(ids(&decomposed), ids(&precomposed));
    }

    #[test]
    fn every_vietnamese_letter_has_a_glyph_in_both_faces() {
        let lower = "aàáảãạăằắẳẵặâầấẩẫậbcdđeèéẻẽẹêềếểễệghiìíỉĩịklmnoòóỏõọôồốổỗộơờớởỡợpqrstuùúủũụưừứửữựvxyỳýỷỹỵ";
        let alphabet = format!("{lower} {}", lower.to_uppercase());
        for (name, data) in [("DejaVuSans", REGULAR_FONT), ("DejaVuSans-Bold", BOLD_FONT)] {
            let face = FontFace::load(name, data).expect("the embedded font parses");
            let glyphs = face.shape(&alphabet).expect("every letter has a glyph");
            assert_eq!(
                glyphs.len(),
                alphabet.chars().count(),
                "{name} maps each letter to one glyph"
            );
        }
    }

    #[test]
    fn a_character_outside_the_fonts_is_refused() {
        let face = FontFace::load("DejaVuSans", REGULAR_FONT).expect("the embedded font parses");
        let result = face.shape("Nguyễn 阮");
        assert!(
            matches!(result, Err(RenderError::MissingGlyph { character: '阮' })),
            "got {:?}",
            result.map(|g| g.len())
        );
    }
}
