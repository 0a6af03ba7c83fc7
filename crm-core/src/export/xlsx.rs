//! A one-sheet XLSX workbook from the export's rows: the five parts a spreadsheet needs,
//! zipped with the `zip` crate calamine already brings in for reading.
//!
//! Not `rust_xlsxwriter`: it reads the system clock when a workbook is created (which
//! crm-core never does, and which panics in the browser without its JavaScript
//! feature) and would add a second `zip` to the browser build. What an export needs is
//! small: text cells, and number cells for the numeric columns, written from their
//! exact decimal text (no float is ever made here).

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::common::error::CrmError;

/// How a column's cells are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cell {
    Text,
    /// A decimal number as text (`1500.00`, `-3`), written as a number cell; anything
    /// that is not one (an empty cell) is written as text.
    Number,
}

/// The workbook's bytes: `header` as the first row, then `rows`, on a sheet named
/// `sheet`; `kinds[i]` says how column `i` is written.
pub(crate) fn workbook(
    sheet: &str,
    header: &[String],
    rows: &[Vec<String>],
    kinds: &[Cell],
) -> Result<Vec<u8>, CrmError> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    // Fixed times (zip's default, 1980-01-01) keep the same export byte for byte equal.
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    let parts = [
        ("[Content_Types].xml", CONTENT_TYPES.to_string()),
        ("_rels/.rels", ROOT_RELS.to_string()),
        ("xl/workbook.xml", workbook_xml(sheet)),
        ("xl/_rels/workbook.xml.rels", WORKBOOK_RELS.to_string()),
        ("xl/worksheets/sheet1.xml", sheet_xml(header, rows, kinds)),
    ];
    let failed = |err: &dyn std::fmt::Display| CrmError::Storage {
        reason: format!("could not write the XLSX: {err}"),
    };
    for (name, text) in parts {
        zip.start_file(name, options).map_err(|err| failed(&err))?;
        zip.write_all(text.as_bytes()).map_err(|err| failed(&err))?;
    }
    let cursor = zip.finish().map_err(|err| failed(&err))?;
    Ok(cursor.into_inner())
}

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#;

const ROOT_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;

const WORKBOOK_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#;

fn workbook_xml(sheet: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="{}" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
        escape(sheet)
    )
}

fn sheet_xml(header: &[String], rows: &[Vec<String>], kinds: &[Cell]) -> String {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
    );
    let header_kinds = vec![Cell::Text; header.len()];
    for (index, (row, kinds)) in std::iter::once((header, header_kinds.as_slice()))
        .chain(rows.iter().map(|row| (row.as_slice(), kinds)))
        .enumerate()
    {
        let line = index + 1;
        xml.push_str(&format!(r#"<row r="{line}">"#));
        for (column, text) in row.iter().enumerate() {
            if text.is_empty() {
                continue;
            }
            let reference = format!("{}{line}", column_name(column));
            let kind = kinds.get(column).copied().unwrap_or(Cell::Text);
            if kind == Cell::Number && is_decimal(text) {
                xml.push_str(&format!(r#"<c r="{reference}"><v>{text}</v></c>"#));
            } else {
                xml.push_str(&format!(
                    r#"<c r="{reference}" t="inlineStr"><is><t xml:space="preserve">{}</t></is></c>"#,
                    escape(text)
                ));
            }
        }
        xml.push_str("</row>");
    }
    xml.push_str("</sheetData></worksheet>");
    xml
}

/// `A`, …, `Z`, `AA`, … for the zero-based column.
fn column_name(mut column: usize) -> String {
    let mut name = Vec::new();
    loop {
        name.push(b'A' + (column % 26) as u8);
        if column < 26 {
            break;
        }
        column = column / 26 - 1;
    }
    name.iter().rev().map(|&byte| byte as char).collect()
}

/// An optional minus, digits, and optionally a point and more digits.
fn is_decimal(text: &str) -> bool {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    !whole.is_empty()
        && whole.bytes().all(|byte| byte.is_ascii_digit())
        && fraction.bytes().all(|byte| byte.is_ascii_digit())
        && !(unsigned.contains('.') && fraction.is_empty())
}

/// Text for XML: markup characters escaped, characters XML 1.0 cannot hold dropped.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\t' | '\n' | '\r' => escaped.push(character),
            c if c < ' ' || matches!(c, '\u{FFFE}' | '\u{FFFF}') => {}
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_named_as_spreadsheets_name_them() {
        let names: Vec<String> = [0, 1, 25, 26, 27, 51, 52, 701, 702]
            .into_iter()
            .map(column_name)
            .collect();
        assert_eq!(names, ["A", "B", "Z", "AA", "AB", "AZ", "BA", "ZZ", "AAA"]);
    }

    #[test]
    fn only_decimals_become_numbers() {
        for text in ["0", "1500.00", "-3", "12.5"] {
            assert!(is_decimal(text), "{text}");
        }
        for text in ["", "-", "1.", ".5", "1e5", "1,5", "+1", "NaN", "1 000"] {
            assert!(!is_decimal(text), "{text}");
        }
    }

    #[test]
    fn text_is_escaped_and_kept_valid() {
        assert_eq!(
            escape("Fenster & Türen <Nord> \"GmbH\"\u{7}\ttab"),
            "Fenster &amp; Türen &lt;Nord&gt; &quot;GmbH&quot;\ttab"
        );
    }

    #[test]
    fn the_same_rows_give_the_same_bytes() {
        let header = vec!["id".to_string(), "amount".to_string()];
        let rows = vec![vec!["deal-1-1".to_string(), "1500.00".to_string()]];
        let kinds = [Cell::Text, Cell::Number];
        let first = workbook("Deals", &header, &rows, &kinds).unwrap();
        assert_eq!(first, workbook("Deals", &header, &rows, &kinds).unwrap());
        assert_eq!(&first[..2], b"PK");
    }
}
