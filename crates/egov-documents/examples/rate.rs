//! Measures how many result documents per second this machine renders and signs.
//!
//! Run with `cargo run --release --example rate [N] [--write PATH]`: it prints the median of
//! five runs of N documents each (N defaults to 500) for rendering and for signing, and with
//! `--write` also saves one rendered document to look at.

use std::time::Instant;

use egov_documents::render::{CreationDate, ResultDocument, ResultRenderer};
use egov_documents::sign::AgencySigningKey;

const RUNS: usize = 5;

fn sample_document(index: usize) -> ResultDocument {
    ResultDocument {
        agency_name: "Ủy ban nhân dân xã Đông Phong".to_owned(),
        agency_code: "H22.26.07".to_owned(),
        document_number: format!("{index}/QĐ-UBND"),
        title: "GIẤY CHỨNG NHẬN ĐĂNG KÝ KHAI SINH".to_owned(),
        dossier_code: format!("H22.26.07-261127-{index:04}"),
        applicant_name: "Nguyễn Thị Hương Giang".to_owned(),
        applicant_personal_id: "027195001234".to_owned(),
        procedure_name: "Đăng ký khai sinh".to_owned(),
        body_paragraphs: vec![
            "Căn cứ Luật Hộ tịch ngày 20 tháng 11 năm 2014; Nghị định số 123/2015/NĐ-CP ngày 15 tháng 11 năm 2015 \
             của Chính phủ quy định chi tiết một số điều và biện pháp thi hành Luật Hộ tịch; xét đề nghị của công \
             chức tư pháp - hộ tịch, Ủy ban nhân dân xã chứng nhận việc đăng ký khai sinh cho trẻ có tên dưới đây \
             đã được thực hiện đầy đủ, đúng trình tự, thủ tục theo quy định của pháp luật."
                .to_owned(),
            "Họ, chữ đệm, tên: Trần Minh Khôi. Ngày, tháng, năm sinh: 03/11/2026. Giới tính: Nam. Dân tộc: Kinh. \
             Quốc tịch: Việt Nam. Nơi sinh: Trạm Y tế xã Đông Phong, tỉnh Kinh Bắc."
                .to_owned(),
            "Giấy chứng nhận này có giá trị kể từ ngày ký.".to_owned(),
        ],
        place_and_date: "Kinh Bắc, ngày 27 tháng 11 năm 2026".to_owned(),
        signer_title: "TM. Ủy ban nhân dân\nChủ tịch".to_owned(),
        signer_name: "Lê Văn Đức".to_owned(),
        verification_url: format!("https://dichvucong.kinhbac.gov.vn/xac-thuc/H22.26.07-261127-{index:04}?k=9f2c4e1a"),
    }
}

/// Runs `work` over `n` documents five times and returns the median rate in documents per second.
fn median_rate(
    n: usize,
    mut work: impl FnMut(usize) -> Result<(), Box<dyn std::error::Error>>,
) -> Result<f64, Box<dyn std::error::Error>> {
    let mut rates = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        for index in 0..n {
            work(index)?;
        }
        #[allow(clippy::cast_precision_loss)] // Document counts are far below 2^52.
        rates.push(n as f64 / started.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    Ok(rates[RUNS / 2])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut n = 500;
    let mut write_to = None;
    while let Some(arg) = args.next() {
        if arg == "--write" {
            write_to = args.next();
        } else {
            n = arg.parse()?;
        }
    }
    let created_at = CreationDate {
        year: 2026,
        month: 11,
        day: 27,
        hour: 3,
        minute: 15,
        second: 0,
    };
    let renderer = ResultRenderer::new()?;
    let documents: Vec<ResultDocument> = (0..n).map(sample_document).collect();
    let pdfs: Vec<Vec<u8>> = documents
        .iter()
        .map(|document| renderer.render(document, created_at))
        .collect::<Result<_, _>>()?;
    if let Some(path) = write_to {
        std::fs::write(&path, &pdfs[0])?;
        println!("wrote {path} ({} bytes)", pdfs[0].len());
    }

    let render_rate = median_rate(n, |index| {
        std::hint::black_box(renderer.render(&documents[index], created_at)?);
        Ok(())
    })?;
    let key = AgencySigningKey::generate()?;
    let sign_rate = median_rate(n, |index| {
        std::hint::black_box(key.sign(&pdfs[index])?);
        Ok(())
    })?;
    let mean_size = pdfs.iter().map(Vec::len).sum::<usize>() / n.max(1);
    println!("documents: {n} per run, median of {RUNS} runs, mean PDF size {mean_size} bytes");
    println!("rendering: {render_rate:.0} documents/s");
    println!("signing:   {sign_rate:.0} documents/s");
    Ok(())
}
