//! Reading XLSX and ODS files within a budget. A spreadsheet says how big it is in
//! ways that cost the reader and not the sender: two cells far apart (A1 and
//! XFD1048576) make a rectangle of 17 billion cells, a `number-rows-repeated` makes a
//! million rows out of one, and a ZIP entry of a kilobyte inflates to gigabytes. So
//! before anything is allocated by what the file claims:
//! - every ZIP entry is inflated once into nothing, counting bytes ([`MAX_UNPACKED_BYTES`]);
//! - XLSX cells are streamed one by one and kept sparse, never as a rectangle;
//! - ODS tables (which calamine expands as it opens the file) are measured first from
//!   their XML, repeats included.
//!
//! Past any limit the file is refused with `too_large`, naming the limit. Excel 97–2003
//! (`.xls`) is not read: its reader sizes its buffers from the file's own claims before
//! anything can check them, so such files are refused with a hint to save as XLSX.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use calamine::{Data, DataRef, Ods, Reader, Xlsx};
use quick_xml::events::{BytesStart, Event as Xml};

use super::MAX_ROWS;
use crate::common::error::CrmError;

/// Most bytes all entries of a spreadsheet's ZIP container may inflate to.
pub(crate) const MAX_UNPACKED_BYTES: usize = 128 << 20;
/// Most entries in a spreadsheet's ZIP container.
pub(crate) const MAX_ZIP_ENTRIES: usize = 10_000;
/// Most columns a sheet may span (from its first used column to its last).
pub(crate) const MAX_COLUMNS: usize = 512;
/// Most cells a sheet may hold once its rows are laid out (empty cells inside a row
/// included): 200,000 rows of 25 columns.
pub(crate) const MAX_CELLS: usize = 5_000_000;

const FIELD: &str = "spreadsheet_base64";

/// The rows of the sheet as text, the header row first; rows may differ in length.
pub(super) fn read(bytes: Vec<u8>, sheet: Option<&str>) -> Result<Vec<Vec<String>>, CrmError> {
    if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0]) {
        return Err(CrmError::validation(
            FIELD,
            "is an Excel 97–2003 (.xls) file or an encrypted workbook, which the import does not read: \
             save it as .xlsx, .ods or .csv",
        ));
    }
    if !bytes.starts_with(b"PK") {
        return Err(unreadable(
            "it is not an XLSX or ODS file (no ZIP container)",
        ));
    }
    let names = inflate_all(&bytes)?;
    if names.iter().any(|name| name == "xl/workbook.xml") {
        read_xlsx(bytes, sheet)
    } else if names.iter().any(|name| name == "content.xml") {
        measure_ods(&bytes)?;
        read_ods(bytes, sheet)
    } else {
        Err(unreadable(
            "the ZIP container holds neither an XLSX workbook nor an ODS spreadsheet",
        ))
    }
}

fn unreadable(why: impl std::fmt::Display) -> CrmError {
    CrmError::validation(FIELD, format!("is not a readable XLSX or ODS file: {why}"))
}

/// Inflates every entry once, counting, so no later reader meets a ZIP bomb; returns
/// the entries' names.
fn inflate_all(bytes: &[u8]) -> Result<Vec<String>, CrmError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(unreadable)?;
    if archive.len() > MAX_ZIP_ENTRIES {
        return Err(CrmError::too_large(
            format!("{FIELD} (ZIP entries)"),
            MAX_ZIP_ENTRIES,
            archive.len(),
        ));
    }
    let mut names = Vec::with_capacity(archive.len());
    let mut total = 0usize;
    let mut chunk = vec![0u8; 64 << 10];
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(unreadable)?;
        names.push(entry.name().to_string());
        loop {
            let read = entry.read(&mut chunk).map_err(unreadable)?;
            if read == 0 {
                break;
            }
            total = total.saturating_add(read);
            if total > MAX_UNPACKED_BYTES {
                return Err(CrmError::too_large(
                    format!("{FIELD} (bytes unpacked)"),
                    MAX_UNPACKED_BYTES,
                    total,
                ));
            }
        }
    }
    Ok(names)
}

/// The sheet to read: the one named, or the first.
fn choose(names: &[String], wanted: Option<&str>) -> Result<String, CrmError> {
    match wanted {
        Some(wanted) => names
            .iter()
            .find(|name| *name == wanted)
            .cloned()
            .ok_or_else(|| {
                CrmError::validation(
                    "sheet",
                    format!(
                        "{wanted:?} is not a sheet of the file ({})",
                        names.join(", ")
                    ),
                )
            }),
        None => names
            .first()
            .cloned()
            .ok_or_else(|| CrmError::validation(FIELD, "the file has no sheets")),
    }
}

/// XLSX: the cells streamed and kept sparse, then laid out within the limits.
fn read_xlsx(bytes: Vec<u8>, sheet: Option<&str>) -> Result<Vec<Vec<String>>, CrmError> {
    let mut workbook = Xlsx::new(Cursor::new(bytes)).map_err(unreadable)?;
    let name = choose(&workbook.sheet_names(), sheet)?;
    let mut reader = workbook.worksheet_cells_reader(&name).map_err(unreadable)?;
    let mut cells = Sparse::default();
    while let Some(cell) = reader.next_cell().map_err(unreadable)? {
        if matches!(cell.get_value(), DataRef::Empty) {
            continue;
        }
        let (row, column) = cell.get_position();
        cells.insert(
            row,
            column,
            cell_text(&Data::from(cell.get_value().clone())),
        )?;
    }
    cells.lay_out()
}

/// ODS: calamine expands every table of the file as it opens it, so the tables were
/// measured before ([`measure_ods`]); the sheet is then read as a range.
fn read_ods(bytes: Vec<u8>, sheet: Option<&str>) -> Result<Vec<Vec<String>>, CrmError> {
    let mut workbook = Ods::new(Cursor::new(bytes)).map_err(unreadable)?;
    let name = choose(&workbook.sheet_names(), sheet)?;
    let range = workbook.worksheet_range(&name).map_err(unreadable)?;
    let (top, left) = range.start().unwrap_or_default();
    let mut cells = Sparse::default();
    for (row, column, value) in range.used_cells() {
        let row = clamp(top as usize + row);
        cells.insert(row, clamp(left as usize + column), cell_text(value))?;
    }
    cells.lay_out()
}

fn clamp(position: usize) -> u32 {
    u32::try_from(position).unwrap_or(u32::MAX)
}

/// A cell as the user sees it: whole numbers without ".0" (phone numbers typed as numbers).
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Float(value) if value.fract() == 0.0 && value.abs() < 1e15 => format!("{value:.0}"),
        // A date cell as the text a person reads, not Excel's serial day number.
        Data::DateTime(at) if at.is_datetime() => at
            .as_datetime()
            .map(|at| at.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| at.to_string()),
        other => other.to_string(),
    }
}

/// The non-empty cells of a sheet by row and column, counted as they come.
#[derive(Default)]
struct Sparse {
    rows: BTreeMap<u32, BTreeMap<u32, String>>,
    count: usize,
}

impl Sparse {
    fn insert(&mut self, row: u32, column: u32, text: String) -> Result<(), CrmError> {
        self.count += 1;
        if self.count > MAX_CELLS {
            return Err(CrmError::too_large(
                format!("{FIELD} (cells)"),
                MAX_CELLS,
                self.count,
            ));
        }
        self.rows.entry(row).or_default().insert(column, text);
        Ok(())
    }

    /// The rows from the first used one to the last, each from the first used column
    /// to its own last cell — refused when they span too many rows or columns, or hold
    /// too many cells once laid out.
    fn lay_out(self) -> Result<Vec<Vec<String>>, CrmError> {
        let (Some(first), Some(last)) = (
            self.rows.keys().next().copied(),
            self.rows.keys().next_back().copied(),
        ) else {
            return Ok(Vec::new());
        };
        let height = (last - first) as usize + 1;
        if height > MAX_ROWS + 1 {
            return Err(CrmError::too_large(
                format!("{FIELD} (rows)"),
                MAX_ROWS,
                height - 1,
            ));
        }
        let left = self
            .rows
            .values()
            .filter_map(|cells| cells.keys().next().copied())
            .min()
            .unwrap_or_default();
        let right = self
            .rows
            .values()
            .filter_map(|cells| cells.keys().next_back().copied())
            .max()
            .unwrap_or_default();
        let width = (right - left) as usize + 1;
        if width > MAX_COLUMNS {
            return Err(CrmError::too_large(
                format!("{FIELD} (columns)"),
                MAX_COLUMNS,
                width,
            ));
        }
        let laid_out: usize = self
            .rows
            .values()
            .filter_map(|cells| cells.keys().next_back())
            .map(|end| (end - left) as usize + 1)
            .sum();
        if laid_out > MAX_CELLS {
            return Err(CrmError::too_large(
                format!("{FIELD} (cells)"),
                MAX_CELLS,
                laid_out,
            ));
        }
        let mut rows = vec![Vec::new(); height];
        for (row, cells) in self.rows {
            let out = &mut rows[(row - first) as usize];
            for (column, text) in cells {
                let index = (column - left) as usize;
                out.resize(index, String::new());
                out.push(text);
            }
        }
        Ok(rows)
    }
}

/// Measures every table of an ODS file as calamine will lay it out (repeated rows and
/// columns expanded up to the last cell with content; trailing empty repeats cost
/// nothing) and refuses the file when that passes a limit.
fn measure_ods(bytes: &[u8]) -> Result<(), CrmError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(unreadable)?;
    let content = archive.by_name("content.xml").map_err(unreadable)?;
    let mut reader = quick_xml::Reader::from_reader(std::io::BufReader::new(content));
    let mut buf = Vec::new();
    let mut total = 0usize;
    let mut table = Table::default();
    let mut row: Option<Row> = None;
    // Depth inside the current cell: a cell with any element in it has content.
    let mut cell_depth = 0usize;
    loop {
        let event = reader.read_event_into(&mut buf).map_err(unreadable)?;
        match &event {
            Xml::Eof => break,
            Xml::Start(element) | Xml::Empty(element) => {
                let empty = matches!(event, Xml::Empty(_));
                match element.name().as_ref() {
                    b"table:table" if !empty => table = Table::default(),
                    b"table:table-row" => {
                        let repeats = repeats(element, b"table:number-rows-repeated")?;
                        if empty {
                            table.row(Row {
                                repeats,
                                ..Row::default()
                            });
                        } else {
                            row = Some(Row {
                                repeats,
                                ..Row::default()
                            });
                        }
                    }
                    b"table:table-cell" | b"table:covered-table-cell" => {
                        let repeats = repeats(element, b"table:number-columns-repeated")?;
                        let has_value = element.attributes().flatten().any(|attribute| {
                            let key = attribute.key.as_ref();
                            key.starts_with(b"office:") || key == b"table:formula"
                        });
                        if let Some(row) = row.as_mut() {
                            row.cell(repeats, has_value || !empty)?;
                        }
                        if !empty {
                            cell_depth = 1;
                        }
                    }
                    _ if cell_depth > 0 && !empty => cell_depth += 1,
                    _ => {}
                }
            }
            Xml::End(element) => match element.name().as_ref() {
                b"table:table-row" => {
                    if let Some(done) = row.take() {
                        table.row(done);
                    }
                }
                b"table:table" => {
                    total = total.saturating_add(table.cells());
                    if total > MAX_CELLS {
                        return Err(CrmError::too_large(
                            format!("{FIELD} (cells)"),
                            MAX_CELLS,
                            total,
                        ));
                    }
                    table = Table::default();
                }
                b"table:table-cell" | b"table:covered-table-cell" => cell_depth = 0,
                _ if cell_depth > 0 => cell_depth -= 1,
                _ => {}
            },
            _ => {}
        }
        buf.clear();
    }
    Ok(())
}

/// A repeat count: absent is 1; past the budget it is refused before anything is
/// multiplied by it.
fn repeats(element: &BytesStart<'_>, name: &[u8]) -> Result<usize, CrmError> {
    let Some(attribute) = element
        .attributes()
        .flatten()
        .find(|attribute| attribute.key.as_ref() == name)
    else {
        return Ok(1);
    };
    std::str::from_utf8(&attribute.value)
        .ok()
        .and_then(|text| text.trim().parse::<usize>().ok())
        .filter(|count| *count >= 1)
        .ok_or_else(|| unreadable(format!("{} is not a count", String::from_utf8_lossy(name))))
}

/// One XML row of an ODS table, as calamine lays it out.
#[derive(Default)]
struct Row {
    repeats: usize,
    /// Cells up to and including the last with content, repeats included.
    width: usize,
    /// Columns seen so far, repeats included.
    seen: usize,
}

impl Row {
    fn cell(&mut self, repeats: usize, has_content: bool) -> Result<(), CrmError> {
        self.seen = self.seen.saturating_add(repeats);
        if has_content {
            self.width = self.seen;
            if self.width > MAX_CELLS {
                return Err(CrmError::too_large(
                    format!("{FIELD} (cells)"),
                    MAX_CELLS,
                    self.width,
                ));
            }
        }
        Ok(())
    }
}

/// The extent of one ODS table as calamine lays it out: every row from the first with
/// content to the last (repeats included), as wide as the widest.
#[derive(Default)]
struct Table {
    /// Rows (repeats included) from the first with content to the last seen so far.
    height: usize,
    /// Rows (repeats included) since the last row with content.
    pending: usize,
    width: usize,
}

impl Table {
    fn row(&mut self, row: Row) {
        if row.width == 0 {
            if self.height > 0 {
                self.pending = self.pending.saturating_add(row.repeats);
            }
            return;
        }
        self.height = self
            .height
            .saturating_add(self.pending)
            .saturating_add(row.repeats);
        self.pending = 0;
        self.width = self.width.max(row.width);
    }

    fn cells(&self) -> usize {
        self.height.saturating_mul(self.width)
    }
}
