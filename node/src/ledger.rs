//! Reads compound ledgers (台账, CSV or xlsx) into typed rows, all or nothing.
//!
//! A ledger is one or more files: CSV files (UTF-8, header row) and
//! workbooks (xlsx, xls, ods) with one sheet per kind. Which kind a CSV file
//! or sheet holds is told by its header: each kind's id column (its first,
//! `lianfang_proto::kinds`) is unique to it, and when a header holds several
//! (a person's 户编号 beside its 人员编号) the most specific wins: a ledger
//! holding another ledger's id column refers to it, so is more specific
//! (isolations, then persons, then households). Every value is checked with
//! [`lianfang_proto::validate`]; the first bad cell, in file order and then
//! top to bottom, fails the whole read with its file, sheet, row, column and
//! reason. What a row's cells mean is said by the kind's module in
//! `crate::kinds`.
//!
//! Cross-references (a person's household, an isolation's person) are left
//! to the caller, which also knows the records already in the database.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use calamine::{Data, Reader as _, SheetType};
use chrono::NaiveDate;
use lianfang_proto::kinds::{Column, KindBody};
use lianfang_proto::{Kind, pb, validate};

/// Longest value a ledger cell may hold, in characters.
const MAX_CELL_CHARS: usize = 200;

/// Where a row came from, for error messages and the caller's own checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowRef {
    /// The file as the user named it (display form of the path).
    pub file: String,
    /// The sheet, for workbooks; `None` for CSV.
    pub sheet: Option<String>,
    /// 1-based spreadsheet row number: the header is row 1 when nothing
    /// precedes it, the first data row 2.
    pub row: usize,
    /// The ledger the row is of, once its header told it: column names in
    /// errors are that ledger's (`kind` is 服务类型 in services, 隔离方式
    /// in isolations).
    pub kind: Option<Kind>,
}

impl fmt::Display for RowRef {
    /// `persons.csv row 3` or `street.xlsx sheet persons row 3`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(sheet) = &self.sheet {
            write!(f, " sheet {sheet}")?;
        }
        write!(f, " row {}", self.row)
    }
}

/// One parsed ledger row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row<T = pb::record::Body> {
    /// The record's stable id (the kind's id column: 户编号, 人员编号, …), trimmed.
    pub id: String,
    /// The record body, with every value checked and normalised.
    pub body: T,
    /// Where the row came from, so the caller can report its own errors.
    pub at: RowRef,
}

/// Every row of one import, by kind, in file order and then top to bottom.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Ledger {
    /// Rows of each kind's files or sheets; kinds in registry order.
    rows: BTreeMap<Kind, Vec<Row>>,
}

impl Ledger {
    /// The rows of one kind.
    pub fn rows(&self, kind: Kind) -> &[Row] {
        self.rows.get(&kind).map_or(&[], Vec::as_slice)
    }

    /// The kinds read and their rows, in registry order.
    pub fn kinds(&self) -> impl Iterator<Item = (Kind, &[Row])> {
        self.rows
            .iter()
            .map(|(kind, rows)| (*kind, rows.as_slice()))
    }

    /// Every row with its kind, kinds in registry order.
    pub fn into_rows(self) -> impl Iterator<Item = (Kind, Row)> {
        self.rows
            .into_iter()
            .flat_map(|(kind, rows)| rows.into_iter().map(move |row| (kind, row)))
    }

    /// The rows of the kind of message `M`, typed.
    pub fn of<M: KindBody>(&self) -> Vec<Row<M>> {
        self.rows(M::KIND)
            .iter()
            .filter_map(|row| {
                Some(Row {
                    id: row.id.clone(),
                    body: M::from_body(&row.body)?.clone(),
                    at: row.at.clone(),
                })
            })
            .collect()
    }

    /// How many rows were read, of every kind.
    pub fn len(&self) -> usize {
        self.rows.values().map(Vec::len).sum()
    }

    /// Whether no row was read.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why an import was refused: the first bad file, sheet, row or cell.
///
/// Displays as `persons.csv row 7, column 证件号码 (id_number): bad check
/// digit: expected 5, found 3`, leaving out the parts that are `None`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LedgerError {
    /// The file as the user named it.
    pub file: String,
    /// The sheet, for workbooks.
    pub sheet: Option<String>,
    /// 1-based spreadsheet row number, when the fault is in one row.
    pub row: Option<usize>,
    /// The column's English name (such as `id_number`), when the fault is in
    /// one column; shown with its Chinese header.
    pub column: Option<String>,
    /// What is wrong: a short lower-case phrase without a trailing period.
    pub reason: String,
    /// The ledger whose column `column` is, when known.
    pub kind: Option<Kind>,
}

impl LedgerError {
    /// An error in one cell of a row already read, such as a person whose
    /// household does not exist. `column` names a ledger column in English
    /// (`household_id`), Chinese (`户编号`) or both (`户编号 (household_id)`),
    /// and is kept as its English name; other text is kept and shown as given.
    pub fn at(at: &RowRef, column: &str, reason: impl Into<String>) -> Self {
        let column = find_column(at.kind, column).map_or(column, |c| c.en);
        Self {
            file: at.file.clone(),
            sheet: at.sheet.clone(),
            row: Some(at.row),
            column: Some(column.to_owned()),
            reason: reason.into(),
            kind: at.kind,
        }
    }

    /// An error in a whole file, sheet or row rather than one cell.
    fn whole(
        file: &str,
        sheet: Option<&str>,
        row: Option<usize>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            file: file.to_owned(),
            sheet: sheet.map(str::to_owned),
            row,
            column: None,
            reason: reason.into(),
            kind: None,
        }
    }
}

impl fmt::Display for LedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(sheet) = &self.sheet {
            write!(f, " sheet {sheet}")?;
        }
        if let Some(row) = self.row {
            write!(f, " row {row}")?;
        }
        if let Some(column) = &self.column {
            write!(f, ", column {}", column_label(self.kind, column))?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Reads ledger files into typed rows, checking every value.
///
/// `.csv` files are read as UTF-8 CSV with a header row (a UTF-8 BOM is
/// dropped); `.xlsx` and `.xlsm` files as workbooks, read cell by cell,
/// every non-empty worksheet of which must be a ledger sheet. Older or other
/// workbook formats are refused with a hint to save as .xlsx: their readers
/// build a dense grid, which a crafted file can make exhaust memory. Fully blank
/// rows are skipped. `today` bounds dates: at most 365 days ahead.
///
/// # Errors
/// The first fault in file order, then top to bottom: an unreadable file, a
/// header that names no ledger or lacks a required column or repeats one, a
/// bad value, or an id already used by an earlier row of the same kind.
pub fn read_files(paths: &[PathBuf], today: NaiveDate) -> Result<Ledger, LedgerError> {
    let named: Vec<(String, PathBuf)> = paths
        .iter()
        .map(|path| (path.display().to_string(), path.clone()))
        .collect();
    read_named(&named, today)
}

/// [`read_files`] with each file named in errors as the caller says (an
/// upload's own file name, not where it was saved); the format is told by
/// the name's extension.
///
/// # Errors
/// As [`read_files`].
pub fn read_named(files: &[(String, PathBuf)], today: NaiveDate) -> Result<Ledger, LedgerError> {
    let mut import = Import::new(today);
    for (file, path) in files {
        let file = file.clone();
        let tables = match FileFormat::of(Path::new(&file)) {
            Some(FileFormat::Csv) => vec![read_csv(path, &file)?],
            Some(FileFormat::Workbook) => read_xlsx_sparse(path, &file)?,
            None => {
                return Err(LedgerError::whole(
                    &file,
                    None,
                    None,
                    "unsupported file type: expected .csv or .xlsx (save .xls, .xlsb or .ods workbooks as .xlsx)",
                ));
            }
        };
        if tables.iter().all(|table| table.rows.is_empty()) {
            return Err(LedgerError::whole(&file, None, None, "file is empty"));
        }
        for table in &tables {
            import.table(table)?;
        }
    }
    Ok(import.ledger)
}

/// The file name a form's errors carry (a form is a one-row ledger).
pub const FORM_FILE: &str = "form";

/// Reads one form as a one-row ledger of `kind`: `fields` are (column,
/// value) pairs named by the ledger's English column names (`person_id`,
/// `phone`, …); other names are ignored. The row goes through the very
/// parsing an imported ledger row goes through, so a value is accepted
/// exactly when the same cell in a ledger is, with the same error text; an
/// error names the column in English ([`LedgerError::column`]).
///
/// # Errors
/// The first bad value, as a ledger row's.
pub fn read_form(
    kind: Kind,
    fields: &[(String, String)],
    today: NaiveDate,
) -> Result<Ledger, LedgerError> {
    let mut names = Vec::new();
    let mut cells = Vec::new();
    for column in columns(kind) {
        if let Some((_, value)) = fields.iter().find(|(name, _)| name == column.en) {
            names.push(column.en.to_owned());
            cells.push(Ok(value.clone()));
        }
    }
    let table = Table {
        file: FORM_FILE.to_owned(),
        sheet: None,
        first_column: 0,
        rows: vec![
            RawRow {
                row: 1,
                cells: names.iter().cloned().map(Ok).collect(),
            },
            RawRow { row: 2, cells },
        ],
    };
    let mut import = Import::new(today);
    import.rows_of(kind, &table, &names)?;
    Ok(import.ledger)
}

// ---------------------------------------------------------------- columns

/// The ledger column `name` stands for: its English name, Chinese header, or
/// label `证件号码 (id_number)`. Columns of the same name in two kinds agree.
fn find_column(kind: Option<Kind>, name: &str) -> Option<&'static Column> {
    // The row's own ledger first: an English name may stand for different
    // headers in different ledgers.
    let own = kind.map(columns).unwrap_or_default().iter();
    own.chain(Kind::with_ledger().flat_map(|(_, ledger)| ledger.columns.iter()))
        .find(|c| {
            c.en == name
                || c.zh == name
                || name
                    .strip_prefix(c.zh)
                    .and_then(|rest| rest.strip_prefix(" ("))
                    .and_then(|rest| rest.strip_suffix(')'))
                    == Some(c.en)
        })
}

/// `证件号码 (id_number)` for a known column; anything else as given.
fn column_label(kind: Option<Kind>, name: &str) -> String {
    find_column(kind, name).map_or_else(|| name.to_owned(), |c| format!("{} ({})", c.zh, c.en))
}

/// Whether header text `name` (trimmed) names `column`.
fn names_column(name: &str, column: &Column) -> bool {
    name == column.zh || name.eq_ignore_ascii_case(column.en)
}

/// The columns of a kind's ledger (empty for a kind without one).
fn columns(kind: Kind) -> &'static [Column] {
    kind.ledger().map_or(&[], |ledger| ledger.columns)
}

/// The column holding a kind's record id (always the first).
fn id_column(kind: Kind) -> &'static Column {
    &columns(kind)[0]
}

/// How specific a ledger is: 0 when it holds no other ledger's id column,
/// else one more than the most specific ledger whose id column it holds
/// (households 0, persons 1, isolations 2).
fn specificity(kind: Kind) -> usize {
    fn depth(kind: Kind, limit: usize) -> usize {
        if limit == 0 {
            return 0;
        }
        Kind::with_ledger()
            .filter(|(other, ledger)| {
                *other != kind && columns(kind).iter().any(|c| c.en == ledger.id_column().en)
            })
            .map(|(other, _)| 1 + depth(other, limit - 1))
            .max()
            .unwrap_or(0)
    }
    depth(kind, Kind::ALL.len())
}

/// Tells the kind from header texts: of the kinds whose id column is there,
/// the most specific; the first in registry order on a tie.
fn detect(names: &[String]) -> Option<Kind> {
    let mut found: Option<(usize, Kind)> = None;
    for (kind, ledger) in Kind::with_ledger() {
        if names.iter().any(|n| names_column(n, ledger.id_column())) {
            let rank = specificity(kind);
            if found.is_none_or(|(best, _)| rank > best) {
                found = Some((rank, kind));
            }
        }
    }
    found.map(|(_, kind)| kind)
}

/// Why a header names no ledger: `expected a 户编号, 人员编号, 隔离编号, … or 排摸编号 column`.
fn undetected() -> String {
    let ids: Vec<&str> = Kind::with_ledger()
        .map(|(_, ledger)| ledger.id_column().zh)
        .collect();
    let list = match ids.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    format!("cannot tell which ledger this is: expected a {list} column")
}

// ---------------------------------------------------------------- reading

/// What a file is read as, from its extension.
#[derive(Debug, Clone, Copy)]
enum FileFormat {
    Csv,
    Workbook,
}

impl FileFormat {
    fn of(path: &Path) -> Option<FileFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(FileFormat::Csv),
            "xlsx" | "xlsm" => Some(FileFormat::Workbook),
            _ => None,
        }
    }
}

/// A cell's text, or why it has none (not UTF-8, a spreadsheet error value).
type Cell = Result<String, String>;

/// One non-blank row as read, before its kind is known.
#[derive(Debug)]
struct RawRow {
    /// 1-based spreadsheet row number.
    row: usize,
    /// Cells left to right, untrimmed.
    cells: Vec<Cell>,
}

impl RawRow {
    fn is_blank(&self) -> bool {
        self.cells
            .iter()
            .all(|cell| cell.as_ref().is_ok_and(|s| s.trim().is_empty()))
    }
}

/// The non-blank rows of one CSV file or one sheet; the first is the header.
#[derive(Debug)]
struct Table {
    /// The file as the user named it.
    file: String,
    /// The sheet, for workbooks.
    sheet: Option<String>,
    /// 0-based spreadsheet column of the first cell, to name columns.
    first_column: usize,
    /// Non-blank rows, top to bottom.
    rows: Vec<RawRow>,
}

/// What a CSV reader says about a cell that is not UTF-8.
const NOT_UTF8: &str = "text is not valid UTF-8 (save the file as \"CSV UTF-8\")";

fn read_csv(path: &Path, file: &str) -> Result<Table, LedgerError> {
    let bytes = std::fs::read(path)
        .map_err(|e| LedgerError::whole(file, None, None, format!("cannot read file: {e}")))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes.as_slice());
    let mut rows = Vec::new();
    let mut record = csv::ByteRecord::new();
    // Lines that continue a quoted field: they are not spreadsheet rows.
    let mut n_continuation_lines = 0u64;
    let mut first = true;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let row = e
                    .position()
                    .map(|p| (p.line().saturating_sub(n_continuation_lines)) as usize);
                return Err(LedgerError::whole(
                    file,
                    None,
                    row,
                    format!("cannot read CSV: {e}"),
                ));
            }
        }
        // A record's position is where the reader stood before it, that is
        // before any empty lines it skipped; count those back in.
        let (line, byte) = record
            .position()
            .map_or((1, 0), |p| (p.line(), p.byte() as usize));
        let n_skipped_lines = bytes
            .get(byte..)
            .unwrap_or_default()
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .filter(|&&b| b == b'\n')
            .count() as u64;
        let row = (line + n_skipped_lines).saturating_sub(n_continuation_lines) as usize;
        n_continuation_lines += record
            .iter()
            .map(|field| field.iter().filter(|&&b| b == b'\n').count() as u64)
            .sum::<u64>();
        let cells = record
            .iter()
            .enumerate()
            .map(|(i, field)| {
                let field = match (first, i) {
                    (true, 0) => field.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(field),
                    _ => field,
                };
                std::str::from_utf8(field)
                    .map(str::to_owned)
                    .map_err(|_| NOT_UTF8.to_owned())
            })
            .collect();
        first = false;
        let raw = RawRow { row, cells };
        if !raw.is_blank() {
            rows.push(raw);
        }
    }
    Ok(Table {
        file: file.to_owned(),
        sheet: None,
        first_column: 0,
        rows,
    })
}

/// Most rows a ledger sheet may reach (the largest compound has about
/// 6,000 persons); a cell beyond is refused before anything is allocated.
pub const MAX_SHEET_ROWS: u32 = 100_000;
/// Most columns a ledger sheet may reach.
pub const MAX_SHEET_COLUMNS: u32 = 256;

/// Reads every non-empty worksheet of an xlsx, in workbook order, cell by
/// cell, keeping only the cells present: a sheet with
/// one stray cell at XFD1048576 must not make a reader allocate the grid up
/// to it (calamine's `worksheet_range` would try 512 GiB).
fn read_xlsx_sparse(path: &Path, file: &str) -> Result<Vec<Table>, LedgerError> {
    let mut workbook: calamine::Xlsx<_> = calamine::open_workbook(path)
        .map_err(|e| LedgerError::whole(file, None, None, format!("cannot read workbook: {e}")))?;
    let names: Vec<String> = workbook
        .sheets_metadata()
        .iter()
        .filter(|sheet| sheet.typ == SheetType::WorkSheet)
        .map(|sheet| sheet.name.clone())
        .collect();
    let mut tables = Vec::new();
    for name in names {
        let sheet_error = |e: calamine::XlsxError| {
            LedgerError::whole(file, Some(&name), None, format!("cannot read sheet: {e}"))
        };
        let mut reader = workbook
            .worksheet_cells_reader(&name)
            .map_err(sheet_error)?;
        let mut cells: std::collections::BTreeMap<u32, Vec<(u32, Cell)>> = Default::default();
        while let Some(cell) = reader.next_cell().map_err(sheet_error)? {
            let (row, column) = cell.get_position();
            if row >= MAX_SHEET_ROWS || column >= MAX_SHEET_COLUMNS {
                return Err(LedgerError::whole(
                    file,
                    Some(&name),
                    Some(row as usize + 1),
                    format!(
                        "a cell at row {}, column {} lies beyond the ledger limit of {MAX_SHEET_ROWS} rows and {MAX_SHEET_COLUMNS} columns; delete what is there",
                        row + 1,
                        column + 1
                    ),
                ));
            }
            let data = Data::from(cell.get_value().clone());
            if data != Data::Empty {
                cells
                    .entry(row)
                    .or_default()
                    .push((column, cell_text(&data)));
            }
        }
        let first_column = cells
            .values()
            .flat_map(|row| row.iter().map(|(column, _)| *column))
            .min()
            .unwrap_or(0);
        let rows: Vec<RawRow> = cells
            .into_iter()
            .map(|(row, present)| {
                let width = present
                    .iter()
                    .map(|(c, _)| c - first_column + 1)
                    .max()
                    .unwrap_or(0);
                let mut row_cells: Vec<Cell> = vec![Ok(String::new()); width as usize];
                for (column, text) in present {
                    row_cells[(column - first_column) as usize] = text;
                }
                RawRow {
                    row: row as usize + 1,
                    cells: row_cells,
                }
            })
            .filter(|raw| !raw.is_blank())
            .collect();
        if !rows.is_empty() {
            tables.push(Table {
                file: file.to_owned(),
                sheet: Some(name),
                first_column: first_column as usize,
                rows,
            });
        }
    }
    Ok(tables)
}

/// The text a workbook cell stands for: whole numbers without a fraction
/// (phones typed as numbers), dates as YYYY-MM-DD, booleans as 是/否.
fn cell_text(data: &Data) -> Cell {
    Ok(match data {
        Data::Empty => String::new(),
        Data::String(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => float_text(*f),
        Data::Bool(b) => if *b { "是" } else { "否" }.to_owned(),
        Data::DateTime(dt) if dt.is_duration() => float_text(dt.as_f64()),
        Data::DateTime(dt) => {
            // A time of day in a date cell is noise for a ledger: keep the date.
            let (year, month, day, ..) = dt.to_ymd_hms_milli();
            format!("{year:04}-{month:02}-{day:02}")
        }
        Data::DateTimeIso(s) => s
            .split_once('T')
            .map_or(s.as_str(), |(date, _)| date)
            .to_owned(),
        Data::Error(e) => return Err(format!("cell holds the spreadsheet error {e}")),
    })
}

/// `13912345678.0` as `13912345678`; other numbers as Rust prints them.
fn float_text(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// `A`, `B`, …, `Z`, `AA`, … for a 0-based column index.
fn column_letters(mut index: usize) -> String {
    let mut letters = Vec::new();
    loop {
        letters.push(b'A' + (index % 26) as u8);
        if index < 26 {
            break;
        }
        index = index / 26 - 1;
    }
    letters.reverse();
    String::from_utf8(letters).unwrap_or_default()
}

// ---------------------------------------------------------------- parsing

/// The state of one import: rows so far and where each id was first seen.
#[derive(Debug)]
struct Import {
    /// Upper bound for dates is a year after this.
    today: NaiveDate,
    /// Rows parsed so far.
    ledger: Ledger,
    /// First row of each id, per kind, to refuse duplicates.
    seen: HashMap<(Kind, String), RowRef>,
}

impl Import {
    fn new(today: NaiveDate) -> Self {
        Self {
            today,
            ledger: Ledger::default(),
            seen: HashMap::new(),
        }
    }

    /// Parses one CSV file or sheet into the ledger.
    fn table(&mut self, table: &Table) -> Result<(), LedgerError> {
        let Some((header, _)) = table.rows.split_first() else {
            return Ok(());
        };
        let sheet = table.sheet.as_deref();
        let header_error =
            |reason: String| LedgerError::whole(&table.file, sheet, Some(header.row), reason);
        let names = header
            .cells
            .iter()
            .map(|cell| match cell {
                Ok(s) => Ok(s.trim().to_owned()),
                Err(e) => Err(header_error(format!("bad header: {e}"))),
            })
            .collect::<Result<Vec<String>, LedgerError>>()?;
        let kind = detect(&names).ok_or_else(|| header_error(undetected()))?;
        self.rows_of(kind, table, &names)
    }

    /// Parses the rows of a table whose kind is known from its header
    /// `names` (trimmed).
    fn rows_of(&mut self, kind: Kind, table: &Table, names: &[String]) -> Result<(), LedgerError> {
        let Some((header, body)) = table.rows.split_first() else {
            return Ok(());
        };
        let parse = crate::kinds::ledger_ops(kind)
            .expect("a kind with a ledger has a ledger module")
            .parse;
        let header_at = RowRef {
            file: table.file.clone(),
            sheet: table.sheet.clone(),
            row: header.row,
            kind: Some(kind),
        };
        let mut positions: HashMap<&'static str, usize> = HashMap::new();
        for (i, name) in names.iter().enumerate() {
            let Some(column) = columns(kind).iter().find(|c| names_column(name, c)) else {
                continue;
            };
            if let Some(&first) = positions.get(column.en) {
                return Err(LedgerError::at(
                    &header_at,
                    column.en,
                    format!(
                        "column appears twice in the header, in columns {} and {}",
                        column_letters(table.first_column + first),
                        column_letters(table.first_column + i),
                    ),
                ));
            }
            positions.insert(column.en, i);
        }
        if let Some(missing) = columns(kind)
            .iter()
            .find(|c| c.required && !positions.contains_key(c.en))
        {
            return Err(LedgerError::at(
                &header_at,
                missing.en,
                "required column is missing",
            ));
        }
        for raw in body {
            let cells = Cells {
                positions: &positions,
                columns: columns(kind),
                raw,
                at: RowRef {
                    file: table.file.clone(),
                    sheet: table.sheet.clone(),
                    row: raw.row,
                    kind: Some(kind),
                },
            };
            let id = self.id(kind, &cells)?;
            let body = parse(&cells, self.today)?;
            self.ledger.rows.entry(kind).or_default().push(Row {
                id,
                body,
                at: cells.at,
            });
        }
        Ok(())
    }

    /// Reads and claims the row's id, refusing one already used by the kind.
    fn id(&mut self, kind: Kind, cells: &Cells<'_>) -> Result<String, LedgerError> {
        let key = id_column(kind).en;
        let id = cells.required(key)?.to_owned();
        match self.seen.entry((kind, id.clone())) {
            std::collections::hash_map::Entry::Occupied(first) => Err(cells.error(
                key,
                format!("duplicate {key} {id}, first on {}", first.get()),
            )),
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(cells.at.clone());
                Ok(id)
            }
        }
    }
}

/// A date as the records store it.
pub(crate) fn date_text(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

/// One data row with its header's column positions: values by English name.
#[derive(Debug)]
pub(crate) struct Cells<'a> {
    /// Position in the row of each column the header has, by English name.
    positions: &'a HashMap<&'static str, usize>,
    /// The columns of the row's kind.
    columns: &'static [Column],
    /// The row as read.
    raw: &'a RawRow,
    /// Where the row is, for errors and the parsed row.
    pub(crate) at: RowRef,
}

impl Cells<'_> {
    pub(crate) fn error(&self, column: &str, reason: impl Into<String>) -> LedgerError {
        LedgerError::at(&self.at, column, reason)
    }

    /// The trimmed value of a column; empty when the header lacks the
    /// column or the row stops short of it.
    pub(crate) fn get(&self, column: &str) -> Result<&str, LedgerError> {
        debug_assert!(self.columns.iter().any(|c| c.en == column), "{column}");
        let Some(&i) = self.positions.get(column) else {
            return Ok("");
        };
        match self.raw.cells.get(i) {
            None => Ok(""),
            Some(Err(reason)) => Err(self.error(column, reason.clone())),
            Some(Ok(text)) => {
                let text = text.trim();
                let n_chars = text.chars().count();
                if n_chars > MAX_CELL_CHARS {
                    return Err(self.error(
                        column,
                        format!(
                            "value is {n_chars} characters long, at most {MAX_CELL_CHARS} allowed"
                        ),
                    ));
                }
                Ok(text)
            }
        }
    }

    /// The trimmed value of a column that must not be empty.
    pub(crate) fn required(&self, column: &str) -> Result<&str, LedgerError> {
        let text = self.get(column)?;
        if text.is_empty() {
            return Err(self.error(column, "value is required"));
        }
        Ok(text)
    }

    /// A column's value through a validate rule (which sees empty values).
    pub(crate) fn with<T>(
        &self,
        column: &str,
        rule: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, LedgerError> {
        rule(self.get(column)?).map_err(|reason| self.error(column, reason))
    }

    /// A non-empty column's value through a validate rule.
    pub(crate) fn required_with<T>(
        &self,
        column: &str,
        rule: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, LedgerError> {
        rule(self.required(column)?).map_err(|reason| self.error(column, reason))
    }

    /// A date column that may be empty.
    pub(crate) fn optional_date(
        &self,
        column: &str,
        today: NaiveDate,
    ) -> Result<Option<NaiveDate>, LedgerError> {
        let text = self.get(column)?;
        if text.is_empty() {
            return Ok(None);
        }
        validate::parse_date(text, today)
            .map(Some)
            .map_err(|reason| self.error(column, reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use tempfile::TempDir;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2020, 2, 20).unwrap()
    }

    const HOUSEHOLDS: &str = "\
户编号,楼号,单元,室号,房屋情况
H001,12,1,101,自住
H002,12,1,102,出租
H003,12,2,201,空置
";

    const PERSONS: &str = "\
人员编号,户编号,姓名,手机,证件号码,国籍,来源地,返沪日期,返沪登记
P001,H001,张三,139-1234-5678,11010519491231002x,,湖北省武汉市,2020/2/3,是
P002,H001,李四,,440524188001010014,中国,,,
P003,H002,John Smith,13812345678,e1234567,usa,湖北,2020年2月10日,否
";

    const ISOLATIONS: &str = "\
隔离编号,人员编号,隔离方式,开始日期,解除日期
I001,P001,居家,2020-02-03,
I002,P003,集中,2020-02-10,2020-02-24
";

    /// Writes `files` (name, bytes) into a fresh temp dir; returns the dir
    /// (kept alive by the caller) and the paths in order.
    fn write(files: &[(&str, &[u8])]) -> (TempDir, Vec<PathBuf>) {
        let dir = TempDir::new().unwrap();
        let paths = files
            .iter()
            .map(|(name, bytes)| {
                let path = dir.path().join(name);
                fs::write(&path, bytes).unwrap();
                path
            })
            .collect();
        (dir, paths)
    }

    fn read(files: &[(&str, &str)]) -> Result<Ledger, LedgerError> {
        let files: Vec<(&str, &[u8])> = files.iter().map(|(n, s)| (*n, s.as_bytes())).collect();
        let (_dir, paths) = write(&files);
        read_files(&paths, today())
    }

    /// Expects `files` to be refused at `file` (a name in the temp dir),
    /// `row` and `column`, with a reason containing `reason`.
    fn check_err(
        files: &[(&str, &str)],
        file: &str,
        row: Option<usize>,
        column: Option<&str>,
        reason: &str,
    ) {
        let err = read(files).expect_err("expected the import to be refused");
        assert!(err.file.ends_with(&format!("/{file}")), "file: {err}");
        assert_eq!(err.row, row, "row: {err}");
        assert_eq!(err.column.as_deref(), column, "column: {err}");
        assert!(err.reason.contains(reason), "reason: {err}\nwant: {reason}");
        assert!(!err.reason.ends_with('.'), "{err}");
    }

    fn person_csv(row: &str) -> String {
        format!("{}{row}\n", PERSONS)
    }

    #[test]
    fn good_csv_set_parses() {
        let ledger = read(&[
            ("households.csv", HOUSEHOLDS),
            ("persons.csv", PERSONS),
            ("isolations.csv", ISOLATIONS),
        ])
        .unwrap();
        let ids = |rows: Vec<String>| rows.join(" ");
        assert_eq!(
            ids(ledger
                .of::<pb::Household>()
                .iter()
                .map(|r| r.id.clone())
                .collect()),
            "H001 H002 H003"
        );
        assert_eq!(
            ledger.of::<pb::Household>()[1].body,
            pb::Household {
                building: "12".into(),
                unit: "1".into(),
                room: "102".into(),
                housing: pb::Housing::Rented as i32,
            }
        );
        assert_eq!(
            ledger.of::<pb::Household>()[2].body.housing,
            pb::Housing::Vacant as i32
        );
        assert!(
            ledger.of::<pb::Household>()[0]
                .at
                .file
                .ends_with("/households.csv")
        );
        assert_eq!(
            (
                ledger.of::<pb::Household>()[0].at.sheet.clone(),
                ledger.of::<pb::Household>()[0].at.row
            ),
            (None, 2)
        );

        assert_eq!(ledger.of::<pb::Person>().len(), 3);
        assert_eq!(
            ledger.of::<pb::Person>()[0].body,
            pb::Person {
                household_id: "H001".into(),
                name: "张三".into(),
                phone: "13912345678".into(),
                id_number: "11010519491231002X".into(),
                nationality: "CN".into(),
                origin: "湖北省武汉市".into(),
                return_date: "2020-02-03".into(),
                registered: true,
            }
        );
        assert_eq!(
            ledger.of::<pb::Person>()[1].body,
            pb::Person {
                household_id: "H001".into(),
                name: "李四".into(),
                phone: String::new(),
                id_number: "440524188001010014".into(),
                nationality: "CN".into(),
                origin: String::new(),
                return_date: String::new(),
                registered: false,
            }
        );
        let john = &ledger.of::<pb::Person>()[2];
        assert_eq!((john.id.as_str(), john.at.row), ("P003", 4));
        assert_eq!(john.body.nationality, "US");
        assert_eq!(john.body.id_number, "E1234567");
        assert_eq!(john.body.return_date, "2020-02-10");

        assert_eq!(
            ledger.of::<pb::Isolation>()[0].body,
            pb::Isolation {
                person_id: "P001".into(),
                kind: pb::IsolationKind::Home as i32,
                start: "2020-02-03".into(),
                release: String::new(),
            }
        );
        assert_eq!(
            ledger.of::<pb::Isolation>()[1].body.kind,
            pb::IsolationKind::Central as i32
        );
        assert_eq!(ledger.of::<pb::Isolation>()[1].body.release, "2020-02-24");
    }

    #[test]
    fn kind_comes_from_the_header_not_the_file_name() {
        let ledger = read(&[
            ("a.csv", ISOLATIONS),
            ("b.CSV", PERSONS),
            ("c.csv", HOUSEHOLDS),
        ])
        .unwrap();
        assert_eq!(
            (
                ledger.of::<pb::Household>().len(),
                ledger.of::<pb::Person>().len(),
                ledger.of::<pb::Isolation>().len()
            ),
            (3, 3, 2)
        );
    }

    #[test]
    fn every_ledger_header_tells_its_own_kind() {
        let text = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        for (kind, ledger) in Kind::with_ledger() {
            assert_eq!(detect(&text(&ledger.headers())), Some(kind), "{kind:?}");
            let en: Vec<&str> = ledger.columns.iter().map(|c| c.en).collect();
            assert_eq!(detect(&text(&en)), Some(kind), "{kind:?} in English");
            let id_only = [ledger.id_column().zh];
            assert_eq!(detect(&text(&id_only)), Some(kind), "{kind:?} by its id");
        }
        // As before the registry: the most specific id column wins even
        // where the header is no ledger's.
        assert_eq!(
            detect(&text(&["隔离编号", "户编号"])),
            Some(Kind::Isolation)
        );
        assert_eq!(detect(&text(&["户编号", "人员编号"])), Some(Kind::Person));
        assert_eq!(detect(&text(&["编号", "姓名"])), None);
    }

    #[test]
    fn english_headers_in_any_case_and_extra_columns() {
        let ledger = read(&[(
            "persons.csv",
            " Person_ID ,HOUSEHOLD_ID,name,Phone,id_number,Nationality,origin,return_date,registered,备注\n\
             P1,H1,Ann,,X1234567,gb,,2020-02-01,yes,anything at all\n",
        )])
        .unwrap();
        let person = &ledger.of::<pb::Person>()[0];
        assert_eq!(person.id, "P1");
        assert_eq!(person.body.nationality, "GB");
        assert!(person.body.registered);
        assert_eq!(person.body.return_date, "2020-02-01");
    }

    #[test]
    fn bom_is_dropped() {
        let text = format!("\u{feff}{HOUSEHOLDS}");
        let ledger = read(&[("households.csv", &text)]).unwrap();
        assert_eq!(ledger.of::<pb::Household>().len(), 3);
        assert_eq!(ledger.of::<pb::Household>()[0].id, "H001");
    }

    #[test]
    fn blank_rows_are_skipped_and_rows_keep_spreadsheet_numbers() {
        let text =
            "户编号,房屋情况,备注\n\nH1,自住,\" two\nlines \"\n , ,\nH2,出租,\n,,\nH3,bad,\n";
        check_err(
            &[("h.csv", text)],
            "h.csv",
            Some(7),
            Some("housing"),
            "got \"bad\"",
        );
        let ledger = read(&[("h.csv", "户编号,房屋情况\n\nH1,自住\n,\n\nH2,出租\n")]).unwrap();
        let rows: Vec<usize> = ledger
            .of::<pb::Household>()
            .iter()
            .map(|r| r.at.row)
            .collect();
        assert_eq!(rows, [3, 6]);
        let crlf = "户编号,房屋情况\r\n\r\nH1,自住\r\n\"H\r\n2\",自住\r\n\r\nH3,出租\r\n";
        let ledger = read(&[("h.csv", crlf)]).unwrap();
        let rows: Vec<usize> = ledger
            .of::<pb::Household>()
            .iter()
            .map(|r| r.at.row)
            .collect();
        assert_eq!(rows, [3, 4, 6]);
    }

    #[test]
    fn only_optional_columns_may_be_left_out() {
        let ledger = read(&[
            ("h.csv", "户编号,房屋情况\nH1,owner\n"),
            (
                "p.csv",
                "人员编号,户编号,姓名,证件号码\nP1,H1,王五,11010519491231002X\n",
            ),
            (
                "i.csv",
                "隔离编号,人员编号,隔离方式,开始日期\nI1,P1,home,2020-02-01\n",
            ),
        ])
        .unwrap();
        assert_eq!(ledger.of::<pb::Household>()[0].body.building, "");
        assert_eq!(ledger.of::<pb::Person>()[0].body.nationality, "CN");
        assert_eq!(ledger.of::<pb::Isolation>()[0].body.release, "");
    }

    #[test]
    fn bad_files_and_headers() {
        let missing = "人员编号,户编号,手机,证件号码\nP1,H1,,11010519491231002X\n";
        check_err(
            &[("p.csv", missing)],
            "p.csv",
            Some(1),
            Some("name"),
            "required column is missing",
        );
        let twice = "户编号,房屋情况,房屋情况\nH1,自住,自住\n";
        check_err(
            &[("h.csv", twice)],
            "h.csv",
            Some(1),
            Some("housing"),
            "in columns B and C",
        );
        let twice_en = "户编号,Housing,房屋情况\nH1,自住,自住\n";
        check_err(
            &[("h.csv", twice_en)],
            "h.csv",
            Some(1),
            Some("housing"),
            "appears twice",
        );
        let unknown = "编号,姓名\n1,张三\n";
        check_err(
            &[("x.csv", unknown)],
            "x.csv",
            Some(1),
            None,
            "cannot tell which ledger this is: expected a 户编号, 人员编号, 隔离编号, 监测编号, 服务编号, 预约编号, 车辆记录编号, 消毒编号, 工单编号, 门岗记录编号 or 排摸编号 column",
        );
        check_err(&[("x.csv", "")], "x.csv", None, None, "file is empty");
        check_err(
            &[("x.txt", HOUSEHOLDS)],
            "x.txt",
            None,
            None,
            "unsupported file type",
        );
        check_err(
            &[("x.xlsx", "not a zip")],
            "x.xlsx",
            None,
            None,
            "cannot read workbook",
        );
        // Files are read in the order given; the first fault wins.
        check_err(
            &[
                ("h.csv", HOUSEHOLDS),
                ("p.csv", missing),
                ("x.csv", unknown),
            ],
            "p.csv",
            Some(1),
            Some("name"),
            "missing",
        );
    }

    #[test]
    fn invalid_utf8_names_file_and_row() {
        let mut bytes = b"\xe6\x88\xb7\xe7\xbc\x96\xe5\x8f\xb7,\xe6\x88\xbf\xe5\xb1\x8b\xe6\x83\x85\xe5\x86\xb5\n".to_vec();
        bytes.extend_from_slice(b"H1,\xd7\xd4\xd7\xa1\n"); // 自住 in GBK
        let (_dir, paths) = write(&[("h.csv", &bytes)]);
        let err = read_files(&paths, today()).unwrap_err();
        assert_eq!(
            (err.row, err.column.as_deref()),
            (Some(2), Some("housing")),
            "{err}"
        );
        assert!(err.reason.contains("not valid UTF-8"), "{err}");

        let gbk_header = b"\xbb\xa7\xb1\xe0\xba\xc5,x\nH1,y\n"; // 户编号 in GBK
        let (_dir, paths) = write(&[("g.csv", gbk_header)]);
        let err = read_files(&paths, today()).unwrap_err();
        assert_eq!(err.row, Some(1), "{err}");
        assert!(err.reason.contains("not valid UTF-8"), "{err}");
    }

    #[test]
    fn bad_person_values() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "P9,H1,王五,,110105194912310023,,,,",
                "id_number",
                "bad check digit: expected X, found 3",
            ),
            (
                "P9,H1,王五,,1101051949123100,CN,,,",
                "id_number",
                "18 characters",
            ),
            (
                "P9,H1,王五,,AB-1234,JP,,,",
                "id_number",
                "passport number must be 5-20",
            ),
            ("P9,H1,王五,,,CN,,,", "id_number", "value is required"),
            (
                "P9,H1,,,11010519491231002X,,,,",
                "name",
                "value is required",
            ),
            (
                "P9,,王五,,11010519491231002X,,,,",
                "household_id",
                "value is required",
            ),
            (
                "P9,H1,王五,12345,11010519491231002X,,,,",
                "phone",
                "phone must be 11 digits starting 13-19, got \"***45\"",
            ),
            (
                "P9,H1,王五,,11010519491231002X,ZZ,,,",
                "nationality",
                "unknown nationality \"ZZ\"",
            ),
            (
                "P9,H1,王五,,11010519491231002X,,,2020-02-30,",
                "return_date",
                "no such date",
            ),
            (
                "P9,H1,王五,,11010519491231002X,,,1999-12-31,",
                "return_date",
                "before 2000-01-01",
            ),
            (
                "P9,H1,王五,,11010519491231002X,,,2021-02-21,",
                "return_date",
                "date 2021-02-21 is more than a year after today (2020-02-20)",
            ),
            (
                "P9,H1,王五,,11010519491231002X,,,,maybe",
                "registered",
                "got \"maybe\"",
            ),
            (
                " P1 ,H1,王五,,11010519491231002X,,,,",
                "person_id",
                "duplicate person_id P1, first on ",
            ),
        ];
        for (row, column, reason) in cases {
            let text = person_csv(row).replace("P001", "P1");
            check_err(
                &[("persons.csv", &text)],
                "persons.csv",
                Some(5),
                Some(column),
                reason,
            );
        }
        let long = format!("P9,H1,{},,11010519491231002X,,,,", "长".repeat(201));
        check_err(
            &[("persons.csv", &person_csv(&long))],
            "persons.csv",
            Some(5),
            Some("name"),
            "value is 201 characters long, at most 200 allowed",
        );
        let ok = format!("P9,H1,{},,11010519491231002X,,,,", "长".repeat(200));
        assert!(read(&[("persons.csv", &person_csv(&ok))]).is_ok());
    }

    #[test]
    fn bad_household_and_isolation_values() {
        let households = format!("{HOUSEHOLDS}H004,3,1,1,租住\n");
        check_err(
            &[("h.csv", &households)],
            "h.csv",
            Some(5),
            Some("housing"),
            "got \"租住\"",
        );
        let households = format!("{HOUSEHOLDS}H005,3,1,1,\n");
        check_err(
            &[("h.csv", &households)],
            "h.csv",
            Some(5),
            Some("housing"),
            "value is required",
        );

        let cases: &[(&str, &str, &str)] = &[
            ("I9,P1,医院,2020-02-01,", "kind", "got \"医院\""),
            ("I9,P1,居家,,", "start", "value is required"),
            ("I9,P1,居家,2020-13-01,", "start", "no such date"),
            (
                "I9,P1,居家,2020-02-10,2020-02-01",
                "release",
                "release 2020-02-01 is before start 2020-02-10",
            ),
            (
                "I9,P1,居家,2020-02-10,soon",
                "release",
                "date must be YYYY-MM-DD, got \"soon\"",
            ),
            ("I9,,居家,2020-02-10,", "person_id", "value is required"),
            (",P1,居家,2020-02-10,", "isolation_id", "value is required"),
            (
                "I001,P1,居家,2020-02-10,",
                "isolation_id",
                "duplicate isolation_id I001",
            ),
        ];
        for (row, column, reason) in cases {
            let text = format!("{ISOLATIONS}{row}\n");
            check_err(&[("i.csv", &text)], "i.csv", Some(4), Some(column), reason);
        }
    }

    #[test]
    fn duplicate_ids_across_files_point_at_the_first() {
        let more = "户编号,房屋情况\nH9,自住\nH002,空置\n";
        let err = read(&[("households.csv", HOUSEHOLDS), ("more.csv", more)]).unwrap_err();
        assert!(err.file.ends_with("/more.csv"), "{err}");
        assert_eq!(err.row, Some(3));
        assert_eq!(err.column.as_deref(), Some("household_id"));
        assert!(
            err.reason
                .starts_with("duplicate household_id H002, first on "),
            "{err}"
        );
        assert!(err.reason.ends_with("/households.csv row 3"), "{err}");
        // The same id in another kind is no clash.
        let ledger = read(&[
            ("h.csv", "户编号,房屋情况\nX1,自住\n"),
            (
                "i.csv",
                "隔离编号,人员编号,隔离方式,开始日期\nX1,P1,居家,2020-02-01\n",
            ),
        ]);
        assert!(ledger.is_ok());
    }

    #[test]
    fn error_display() {
        let at = RowRef {
            file: "persons.csv".into(),
            sheet: None,
            row: 7,
            kind: None,
        };
        let err = LedgerError::at(&at, "id_number", "bad check digit: expected 5, found 3");
        assert_eq!(
            err.to_string(),
            "persons.csv row 7, column 证件号码 (id_number): bad check digit: expected 5, found 3"
        );
        let at = RowRef {
            file: "street.xlsx".into(),
            sheet: Some("persons".into()),
            row: 7,
            kind: Some(Kind::Person),
        };
        assert_eq!(
            LedgerError::at(&at, "household_id", "no such household H9").to_string(),
            "street.xlsx sheet persons row 7, column 户编号 (household_id): no such household H9"
        );
        for column in ["household_id", "户编号", "户编号 (household_id)"] {
            let err = LedgerError::at(&at, column, "x");
            assert_eq!(err.column.as_deref(), Some("household_id"));
            assert_eq!(
                err.to_string(),
                "street.xlsx sheet persons row 7, column 户编号 (household_id): x"
            );
        }
        assert_eq!(
            LedgerError::at(&at, "说明", "x").to_string(),
            "street.xlsx sheet persons row 7, column 说明: x"
        );
        assert_eq!(at.to_string(), "street.xlsx sheet persons row 7");
        assert_eq!(
            LedgerError::whole("a.csv", None, None, "file is empty").to_string(),
            "a.csv: file is empty"
        );
        assert_eq!(
            LedgerError::whole("a.xlsx", Some("说明"), Some(1), "cannot tell").to_string(),
            "a.xlsx sheet 说明 row 1: cannot tell"
        );
    }

    #[test]
    fn cell_text_conversions() {
        use calamine::{ExcelDateTime, ExcelDateTimeType};
        assert_eq!(
            cell_text(&Data::Float(13912345678.0)).unwrap(),
            "13912345678"
        );
        assert_eq!(cell_text(&Data::Float(1.5)).unwrap(), "1.5");
        assert_eq!(cell_text(&Data::Int(101)).unwrap(), "101");
        assert_eq!(cell_text(&Data::Bool(true)).unwrap(), "是");
        assert_eq!(cell_text(&Data::Bool(false)).unwrap(), "否");
        assert_eq!(cell_text(&Data::Empty).unwrap(), "");
        let date = ExcelDateTime::new(43864.75, ExcelDateTimeType::DateTime, false);
        assert_eq!(cell_text(&Data::DateTime(date)).unwrap(), "2020-02-03");
        assert_eq!(
            cell_text(&Data::DateTimeIso("2020-02-03T00:00:00".into())).unwrap(),
            "2020-02-03"
        );
        assert!(
            cell_text(&Data::Error(calamine::CellErrorType::NA))
                .unwrap_err()
                .contains("#N/A")
        );
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(27 * 26), "AAA");
    }

    /// Writes a street workbook: an empty sheet, then households, persons
    /// (phone as a number, return date as a real date) and isolations.
    fn write_workbook(path: &Path) {
        use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
        let mut workbook = Workbook::new();
        let date_format = Format::new().set_num_format("yyyy-mm-dd");
        let date = |y, m, d| ExcelDateTime::from_ymd(y, m, d).unwrap();

        workbook.add_worksheet().set_name("说明").unwrap();

        let sheet = workbook.add_worksheet().set_name("households").unwrap();
        for (col, text) in ["户编号", "楼号", "单元", "室号", "房屋情况"]
            .iter()
            .enumerate()
        {
            sheet.write_string(0, col as u16, *text).unwrap();
        }
        sheet.write_string(1, 0, "H001").unwrap();
        sheet.write_number(1, 1, 12).unwrap();
        sheet.write_number(1, 2, 1).unwrap();
        sheet.write_number(1, 3, 101).unwrap();
        sheet.write_string(1, 4, "自住").unwrap();

        let sheet = workbook.add_worksheet().set_name("persons").unwrap();
        let header = [
            "人员编号",
            "户编号",
            "姓名",
            "手机",
            "证件号码",
            "国籍",
            "来源地",
            "返沪日期",
            "返沪登记",
        ];
        for (col, text) in header.iter().enumerate() {
            sheet.write_string(0, col as u16, *text).unwrap();
        }
        // Row 2 left blank: skipped, and row numbers stay the sheet's.
        sheet.write_string(2, 0, "P001").unwrap();
        sheet.write_string(2, 1, "H001").unwrap();
        sheet.write_string(2, 2, "张三").unwrap();
        sheet.write_number(2, 3, 13912345678.0).unwrap();
        sheet.write_string(2, 4, "11010519491231002X").unwrap();
        sheet.write_string(2, 6, "湖北").unwrap();
        sheet
            .write_datetime_with_format(2, 7, date(2020, 2, 3), &date_format)
            .unwrap();
        sheet.write_boolean(2, 8, true).unwrap();

        let sheet = workbook.add_worksheet().set_name("isolations").unwrap();
        for (col, text) in ["隔离编号", "人员编号", "隔离方式", "开始日期", "解除日期"]
            .iter()
            .enumerate()
        {
            sheet.write_string(0, col as u16, *text).unwrap();
        }
        sheet.write_string(1, 0, "I001").unwrap();
        sheet.write_string(1, 1, "P001").unwrap();
        sheet.write_string(1, 2, "居家").unwrap();
        sheet
            .write_datetime_with_format(1, 3, date(2020, 2, 3), &date_format)
            .unwrap();
        sheet.write_string(1, 4, "2020年2月17日").unwrap();
        workbook.save(path).unwrap();
    }

    #[test]
    fn xlsx_parses() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("street.xlsx");
        write_workbook(&path);
        let ledger = read_files(std::slice::from_ref(&path), today()).unwrap();

        let household = &ledger.of::<pb::Household>()[0];
        assert_eq!(
            (
                household.body.building.as_str(),
                household.body.room.as_str()
            ),
            ("12", "101")
        );
        assert_eq!(household.at.sheet.as_deref(), Some("households"));

        let person = &ledger.of::<pb::Person>()[0];
        assert_eq!(person.at.row, 3);
        assert_eq!(person.at.sheet.as_deref(), Some("persons"));
        assert_eq!(person.body.phone, "13912345678");
        assert_eq!(person.body.return_date, "2020-02-03");
        assert!(person.body.registered);
        assert_eq!(person.body.nationality, "CN");

        let isolation = &ledger.of::<pb::Isolation>()[0];
        assert_eq!(isolation.body.start, "2020-02-03");
        assert_eq!(isolation.body.release, "2020-02-17");
    }

    #[test]
    fn xlsx_and_csv_mix_and_errors_name_the_sheet() {
        let dir = TempDir::new().unwrap();
        let path = dir.path().join("street.xlsx");
        write_workbook(&path);
        let extra = dir.path().join("more.csv");
        fs::write(
            &extra,
            "人员编号,户编号,姓名,证件号码\nP002,H001,李四,440524188001010014\n",
        )
        .unwrap();
        let ledger = read_files(&[path.clone(), extra.clone()], today()).unwrap();
        assert_eq!(ledger.of::<pb::Person>().len(), 2);

        fs::write(
            &extra,
            "人员编号,户编号,姓名,证件号码\nP001,H001,李四,440524188001010014\n",
        )
        .unwrap();
        let err = read_files(&[path.clone(), extra], today()).unwrap_err();
        assert!(
            err.reason.ends_with("/street.xlsx sheet persons row 3"),
            "{err}"
        );

        // Seen from a year earlier, the real date cell is too far ahead.
        let err = read_files(&[path], NaiveDate::from_ymd_opt(2019, 2, 1).unwrap()).unwrap_err();
        assert!(
            err.to_string().ends_with(
                "/street.xlsx sheet persons row 3, column 返沪日期 (return_date): \
                 date 2020-02-03 is more than a year after today (2019-02-01)"
            ),
            "{err}"
        );
    }
}
