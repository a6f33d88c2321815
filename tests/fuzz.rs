//! Fuzz regression: every decoder and parser on hostile bytes, and the real
//! hub on hostile pushes.
//!
//! - Property tests (proptest, no failure persistence): the protobuf decoders
//!   of the wire messages on arbitrary and on mutated valid bytes, enrolment
//!   tokens, bundle files, digests, batch numbering, and ledger CSV / xlsx
//!   files. Nothing may panic; whatever decodes re-encodes to itself; a
//!   ledger either parses into rows that keep every value rule or fails with
//!   an error that names the file, and a failed import writes nothing.
//! - The real hub over gRPC: hostile records and batches after a handshake
//!   are refused whole with the right status naming the field, nothing of
//!   the batch is stored, and a normal node syncs afterwards. Raw garbage
//!   bodies go over the wire through a pass-through codec.
//! - `tests/corpus/<target>/`: kept inputs (see its README), replayed by
//!   `fuzz_corpus_regression` (in process) and `fuzz_corpus_isolated` (in a
//!   child process, for inputs that abort) through the same checks.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::NaiveDate;
use lianfang_hub::store::HubStore;
use lianfang_node::ledger::{self, Ledger, LedgerError};
use lianfang_node::store::Store;
use lianfang_node::sync::{SyncOptions, sync_once};
use lianfang_proto::pb::sync_client::SyncClient;
use lianfang_proto::{Kind, Lane, bundle, digest, pb, record, sign, token, validate};
use lianfang_sim::generate::{self, CompoundLedger, StreetSpec};
use lianfang_tests::{TestHub, node_with_ledger};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestRunner;
use prost::Message;
use prost::bytes::{Buf as _, BufMut as _};
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;

// ---------------------------------------------------------------- shared

/// The ledgers' "today": dates may lie at most a year after it.
fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2020, 2, 20).expect("date")
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Runs `test` on `cases` values of `strategy`; a failure names the
/// minimal input proptest found.
fn run<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value)) {
    let mut runner = TestRunner::new(config(cases));
    if let Err(e) = runner.run(&strategy, |value| {
        test(value);
        Ok(())
    }) {
        panic!("{e}");
    }
}

/// A generated compound of five households, built once.
fn small_compound() -> &'static CompoundLedger {
    static COMPOUND: OnceLock<CompoundLedger> = OnceLock::new();
    COMPOUND.get_or_init(|| {
        generate::compound(
            &StreetSpec {
                min_households: 5,
                max_households: 5,
                ..StreetSpec::demo(1)
            },
            0,
        )
    })
}

/// The compound's records as wire records.
fn compound_records(ledger: &CompoundLedger) -> Vec<pb::Record> {
    let record = |id: &str, body: pb::record::Body| pb::Record {
        compound: ledger.code.clone(),
        id: id.to_owned(),
        stamp: 1_582_000_000_000 << 16,
        origin: format!("{}/fuzz", ledger.code),
        deleted: false,
        body: Some(body),
    };
    let households = ledger
        .households
        .iter()
        .map(|(id, h)| record(id, pb::record::Body::Household(h.clone())));
    let persons = ledger
        .persons
        .iter()
        .map(|(id, p)| record(id, pb::record::Body::Person(p.clone())));
    let isolations = ledger
        .isolations
        .iter()
        .map(|(id, i)| record(id, pb::record::Body::Isolation(i.clone())));
    households.chain(persons).chain(isolations).collect()
}

/// A real `PushRequest` (the small compound's records), encoded.
fn valid_push_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let entries: Vec<pb::LogEntry> = compound_records(small_compound())
            .into_iter()
            .zip(1..)
            .map(|(record, seq)| pb::LogEntry {
                seq,
                record: Some(record),
            })
            .collect();
        pb::PushRequest {
            log_id: "L1".into(),
            head: entries.len() as u64,
            entries,
            lane: Lane::Bulk as i32,
        }
        .encode_to_vec()
    })
}

/// A real sealed bundle file (the small compound's records in the bulk lane).
fn valid_bundle_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let push = pb::PushRequest::decode(valid_push_bytes()).expect("valid push");
        let bundle = pb::Bundle {
            compound: small_compound().code.clone(),
            log_id: "L1".into(),
            created_at: "2020-02-20T08:00:00Z".into(),
            lanes: vec![pb::BundleLane {
                lane: Lane::Bulk as i32,
                head: push.head,
                entries: push.entries,
            }],
        };
        bundle::seal(&bundle, &bundle::seal_key(b"fuzz secret"))
    })
}

/// A real enrolment token, as printed.
fn valid_token() -> String {
    token::encode(&pb::EnrollmentToken {
        compound: "HM001".into(),
        secret: vec![7; 32],
        hub_key: vec![1; 32],
        ..Default::default()
    })
}

// ---------------------------------------------------------------- checks

/// Decodes `bytes` as `M`; whatever decodes must re-encode to bytes that
/// decode to the same message.
fn round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(bytes: &[u8]) -> Option<M> {
    let message = M::decode(bytes).ok()?;
    let again = M::decode(message.encode_to_vec().as_slice())
        .unwrap_or_else(|e| panic!("re-encoded {} does not decode: {e}", type_name::<M>()));
    assert_eq!(
        again,
        message,
        "{} changes on re-encoding",
        type_name::<M>()
    );
    Some(message)
}

fn type_name<M>() -> &'static str {
    std::any::type_name::<M>()
}

/// Decodes `bytes` as every wire message a peer or a file can hand us, and
/// runs what decodes through the functions that consume it.
fn check_pb(bytes: &[u8]) {
    if let Some(push) = round_trip::<pb::PushRequest>(bytes) {
        check_entries(&push.entries);
    }
    round_trip::<pb::HandshakeRequest>(bytes);
    round_trip::<pb::PullRequest>(bytes);
    if let Some(verify) = round_trip::<pb::VerifyRequest>(bytes) {
        check_buckets(&verify.buckets);
    }
    if let Some(record) = round_trip::<pb::Record>(bytes) {
        check_record(&record);
    }
    if let Some(entry) = round_trip::<pb::DownEntry>(bytes) {
        check_down_entry(&entry);
    }
    round_trip::<pb::HubMessage>(bytes);
    if let Some(token) = round_trip::<pb::EnrollmentToken>(bytes)
        && let Ok(decoded) = token::decode(&token::encode(&token))
    {
        assert_eq!(decoded, token);
    }
    if let Some(file) = round_trip::<pb::BundleFile>(bytes) {
        if let Some(bundle) = round_trip::<pb::Bundle>(&file.bundle) {
            check_bundle_lanes(&bundle);
        }
        let _ = bundle::check_seal(&file, &bundle::seal_key(b"fuzz secret"));
    }
    if let Some(bundle) = round_trip::<pb::Bundle>(bytes) {
        check_bundle_lanes(&bundle);
    }
}

fn check_bundle_lanes(bundle: &pb::Bundle) {
    for lane in &bundle.lanes {
        let _ = Lane::try_from(lane.lane);
        check_entries(&lane.entries);
    }
}

/// Batch numbering and record codecs on decoded entries.
fn check_entries(entries: &[pb::LogEntry]) {
    check_seqs(entries.iter().map(|e| e.seq).collect());
    for record in entries.iter().filter_map(|e| e.record.as_ref()) {
        check_record(record);
    }
}

/// `check_batch` and `accept` on any sequence numbers: no overflow, and
/// what they accept is a real run of numbers.
fn check_seqs(seqs: Vec<u64>) {
    use lianfang_proto::sync::{Accept, accept, check_batch};
    let Ok((first, len)) = check_batch(seqs.iter().copied()) else {
        return;
    };
    assert_eq!(first, seqs[0]);
    assert_eq!(len, seqs.len());
    for (i, seq) in seqs.iter().enumerate() {
        assert_eq!(first.checked_add(i as u64), Some(*seq), "{seqs:?}");
    }
    for cursor in [
        0,
        first - 1,
        first,
        *seqs.last().expect("non-empty"),
        u64::MAX - 1,
    ] {
        match accept(cursor, first, len) {
            Accept::Apply { skip } => assert!(skip < len),
            Accept::Replay | Accept::Gap { .. } => {}
        }
    }
}

/// A record's body codec, kind, lane and digest.
fn check_record(record: &pb::Record) {
    let Some(body) = &record.body else {
        return;
    };
    let kind = Kind::of(body);
    let _ = kind.lane();
    let encoded = record::encode_body(body);
    let decoded = kind.decode_body(&encoded).expect("an encoded body decodes");
    assert_eq!(&decoded, body);
    let mut digests = digest::Digests::new();
    digest::add(
        &mut digests,
        kind,
        &record.id,
        record.stamp,
        &record.origin,
        record.deleted,
        &encoded,
    );
    assert_eq!(digests.values().map(|d| d.count).sum::<u64>(), 1);
    check_buckets(&digest::to_wire(&digests));
}

/// Digests from any wire buckets: they agree with themselves and survive
/// the wire.
fn check_buckets(buckets: &[pb::BucketDigest]) {
    let digests = digest::from_wire(buckets);
    assert!(digest::differing(&digests, &digests).is_empty());
    assert_eq!(digest::from_wire(&digest::to_wire(&digests)), digests);
    let empty = digest::Digests::new();
    assert_eq!(digest::differing(&digests, &empty).len(), digests.len());
}

/// A down entry as a node receives it: verification under any key fails
/// cleanly (nobody holds the key that signed a random entry).
fn check_down_entry(entry: &pb::DownEntry) {
    let key = sign::public_key(&sign::signing_key(&[9; 32]));
    assert!(sign::verify_entry(&key, "HM001", entry).is_err());
    assert!(sign::verify_entry(&entry.signature, "HM001", entry).is_err());
    round_trip::<pb::HubMessage>(&entry.message);
}

/// A token as typed: decodes to a complete token that survives printing,
/// or fails with a reason.
fn check_token(s: &str) {
    match token::decode(s) {
        Ok(t) => {
            assert!(!t.compound.is_empty() && t.secret.len() >= 16 && t.hub_key.len() == 32);
            assert_eq!(token::decode(&token::encode(&t)).as_ref(), Ok(&t));
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    let _ = sign::hex_decode(s);
}

/// A hub with HM001 enrolled and bound to log `L1`, for bundle imports.
struct BundleHub {
    _dir: tempfile::TempDir,
    store: HubStore,
}

impl BundleHub {
    fn new() -> BundleHub {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store = HubStore::open_or_create(dir.path()).expect("hub store");
        let token = store.enroll("HM001", None).expect("enroll");
        let caller = store.authenticate(&token).expect("authenticate");
        store
            .handshake(&caller, "L1", [(Lane::Bulk, 0), (Lane::Urgent, 0)], 0)
            .expect("handshake");
        BundleHub { _dir: dir, store }
    }

    fn stored(&self) -> Vec<u64> {
        Kind::ALL
            .iter()
            .map(|&kind| self.store.record_count("HM001", kind).expect("count"))
            .collect()
    }
}

/// A bundle file: opens or fails with a reason; a seal made with another
/// key never matches; the hub refuses it (nobody here holds the real
/// secret) without storing anything.
fn check_bundle(bytes: &[u8], hub: &mut BundleHub) {
    match bundle::open(bytes) {
        Ok((opened, file)) => {
            check_bundle_lanes(&opened);
            let key = bundle::seal_key(b"another secret");
            assert_eq!(
                bundle::check_seal(&file, &key),
                Err(bundle::BundleError::BadSeal)
            );
            let resealed = bundle::seal(&opened, &key);
            let (again, file) = bundle::open(&resealed).expect("a sealed bundle opens");
            assert_eq!(again, opened);
            assert_eq!(bundle::check_seal(&file, &key), Ok(()));
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    let before = hub.stored();
    let error = hub
        .store
        .import_bundle(bytes)
        .expect_err("a bundle nobody here sealed is refused");
    assert!(!error.to_string().is_empty());
    assert_eq!(hub.stored(), before, "a refused bundle stored records");
}

/// Reads one ledger file: rows that keep every value rule, or an error that
/// names the file.
fn check_ledger(path: &Path) -> Result<Ledger, LedgerError> {
    let result = ledger::read_files(&[path.to_owned()], today());
    match &result {
        Ok(ledger) => assert_valid_ledger(ledger, path),
        Err(e) => assert_clear_ledger_error(e, path),
    }
    result
}

fn assert_clear_ledger_error(e: &LedgerError, path: &Path) {
    let file = path.display().to_string();
    let shown = e.to_string();
    assert_eq!(e.file, file, "{shown}");
    assert!(
        shown.starts_with(&file),
        "error does not name the file: {shown}"
    );
    assert!(
        !e.reason.trim().is_empty(),
        "error without a reason: {shown}"
    );
    assert!(
        shown.chars().count() < 4000,
        "error is {} characters long: {}",
        shown.chars().count(),
        shown.chars().take(300).collect::<String>()
    );
    if let Some(column) = &e.column {
        assert!(shown.contains(column.as_str()), "{shown}");
    }
    if let Some(row) = e.row {
        assert!(row >= 1, "{shown}");
    }
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn assert_short(what: &str, s: &str) {
    assert!(
        chars(s) <= 200,
        "{what} of {} characters accepted",
        chars(s)
    );
}

fn assert_valid_ledger(ledger: &Ledger, path: &Path) {
    let file = path.display().to_string();
    for row in &ledger.of::<pb::Household>() {
        assert_eq!(row.at.file, file);
        assert!(!row.id.is_empty());
        assert_short("household_id", &row.id);
        for text in [&row.body.building, &row.body.unit, &row.body.room] {
            assert_short("household text", text);
        }
        assert!(
            matches!(
                pb::Housing::try_from(row.body.housing),
                Ok(pb::Housing::Owner | pb::Housing::Rented | pb::Housing::Vacant)
            ),
            "housing {} accepted",
            row.body.housing
        );
    }
    for row in &ledger.of::<pb::Person>() {
        let p = &row.body;
        assert_eq!(row.at.file, file);
        for (what, text) in [
            ("person_id", &row.id),
            ("household_id", &p.household_id),
            ("name", &p.name),
        ] {
            assert!(!text.is_empty(), "empty {what} accepted");
            assert_short(what, text);
        }
        assert_short("origin", &p.origin);
        assert_eq!(validate::check_phone(&p.phone).as_ref(), Ok(&p.phone));
        assert_eq!(
            validate::parse_nationality(&p.nationality).as_ref(),
            Ok(&p.nationality)
        );
        assert_eq!(
            validate::check_id_number(&p.nationality, &p.id_number).as_ref(),
            Ok(&p.id_number)
        );
        if !p.return_date.is_empty() {
            assert!(validate::parse_date(&p.return_date, today()).is_ok());
        }
    }
    // The day's kinds: ids and dates as the rules keep them, enums set,
    // plates normalised, temperatures in range.
    for (kind, rows) in ledger.kinds() {
        for row in rows {
            assert_eq!(row.at.file, file);
            assert!(!row.id.is_empty(), "{kind:?}: empty id accepted");
            assert_short("id", &row.id);
            for day in lianfang_proto::kinds::days(&row.body) {
                let day = day.trim();
                if !day.is_empty() {
                    assert!(
                        validate::parse_date(day, today()).is_ok(),
                        "{kind:?}: day {day:?} accepted"
                    );
                }
            }
        }
    }
    for row in &ledger.of::<pb::HealthCheck>() {
        assert!(validate::TEMPERATURE_TENTHS.contains(&row.body.temperature_tenths));
        assert_ne!(row.body.slot(), pb::Slot::Unspecified);
    }
    for row in &ledger.of::<pb::VehicleCheck>() {
        assert_eq!(
            validate::plate::parse_plate(&row.body.plate).as_ref(),
            Ok(&row.body.plate)
        );
        assert_ne!(row.body.action(), pb::VehicleAction::Unspecified);
    }
    for row in &ledger.of::<pb::Service>() {
        assert_ne!(row.body.kind(), pb::ServiceKind::Unspecified);
    }
    for row in &ledger.of::<pb::Survey>() {
        assert_ne!(row.body.source(), pb::SurveySource::Unspecified);
        assert_ne!(row.body.result(), pb::AnswerResult::Unspecified);
    }
    for row in &ledger.of::<pb::Isolation>() {
        let i = &row.body;
        assert_eq!(row.at.file, file);
        assert!(!row.id.is_empty() && !i.person_id.is_empty());
        assert_short("isolation_id", &row.id);
        assert_short("person_id", &i.person_id);
        assert!(matches!(
            pb::IsolationKind::try_from(i.kind),
            Ok(pb::IsolationKind::Home | pb::IsolationKind::Central)
        ));
        assert!(validate::parse_date(&i.start, today()).is_ok());
        if !i.release.is_empty() {
            assert!(validate::parse_date(&i.release, today()).is_ok());
            assert!(i.release >= i.start, "release before start accepted");
        }
    }
}

/// A node for imports: a refused import must leave its log as it was.
struct ImportNode {
    _dir: tempfile::TempDir,
    store: Store,
}

impl ImportNode {
    fn new() -> ImportNode {
        let dir = tempfile::tempdir().expect("temp dir");
        let data = dir.path().join("node");
        lianfang_node::init(&data, "HM001", "http://127.0.0.1:1", &valid_token()).expect("init");
        let store = Store::open(&data).expect("open");
        ImportNode { _dir: dir, store }
    }

    /// Imports `path`; on error the node's log is unchanged.
    fn import(&mut self, path: &Path) {
        let before = self.store.head().expect("head");
        let result = lianfang_node::import::import_files(
            &mut self.store,
            &[path.to_owned()],
            today(),
            1_582_000_000_000,
        );
        if let Err(e) = result {
            assert!(!e.to_string().is_empty());
            assert_eq!(
                self.store.head().expect("head"),
                before,
                "a refused import wrote to the log: {e}"
            );
        }
    }
}

// ---------------------------------------------------------------- strategies

/// One edit of a byte string.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Set(Index, u8),
    Insert(Index, Vec<u8>),
    Remove(Index, usize),
    Truncate(Index),
    Duplicate(Index, usize),
}

/// Bytes that mean something to a protobuf or zip reader.
fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        prop::sample::select(vec![
            0x00, 0x01, 0x7f, 0x80, 0xff, 0x08, 0x0a, 0x12, 0x0b, 0x0c
        ]),
        any::<u8>(),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 1u8..=255).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (any::<Index>(), interesting_byte()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (
            any::<Index>(),
            prop::collection::vec(interesting_byte(), 1..12)
        )
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Remove(i, n)),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), 1usize..64).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len();
        if len == 0 {
            if let Mutation::Insert(_, new) = m {
                bytes.extend_from_slice(new);
            }
            continue;
        }
        match m {
            Mutation::Flip(i, x) => bytes[i.index(len)] ^= x,
            Mutation::Set(i, b) => bytes[i.index(len)] = *b,
            Mutation::Insert(i, new) => {
                let at = i.index(len + 1);
                bytes.splice(at..at, new.iter().copied());
            }
            Mutation::Remove(i, n) => {
                let at = i.index(len);
                bytes.drain(at..(at + n).min(len));
            }
            Mutation::Truncate(i) => bytes.truncate(i.index(len)),
            Mutation::Duplicate(i, n) => {
                let at = i.index(len);
                let copy = bytes[at..(at + n).min(len)].to_vec();
                bytes.splice(at..at, copy);
            }
        }
    }
    bytes
}

/// Up to eight edits of `base`.
fn mutated(base: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(mutation(), 1..8).prop_map(move |m| mutate(base.to_vec(), &m))
}

/// Plausible and edge-case ledger values.
const PLAUSIBLE: &[&str] = &[
    "H1",
    "H2",
    "P1",
    "I1",
    "1",
    "101",
    "自住",
    "出租",
    "空置",
    "owner",
    "RENTED",
    "vacant",
    "居家",
    "集中",
    "home",
    "CN",
    "中国",
    "us",
    "USA",
    "ZZ",
    "湖北",
    "湖北省武汉市",
    "2020-02-01",
    "2020/2/1",
    "2020.02.01",
    "2020年2月1日",
    "2021-02-19",
    "2021-02-20",
    "2999-01-01",
    "1999-12-31",
    "2000-01-01",
    "2020-02-30",
    "0000-00-00",
    "-2020-01-01",
    "99999-01-01",
    "2020-13-01",
    "13912345678",
    "139-1234-5678",
    "12345678901",
    "1391234567８",
    "是",
    "否",
    "true",
    "0",
    "11010519491231002X",
    "11010519491231002x",
    "110105194912310021",
    "１１０１０５１９４９１２３１００２X",
    "E12345678",
    "",
    " ",
    "\u{feff}",
    "\u{feff}H1",
    "=1+1",
    "\"quoted\"",
    "a,b",
    "line\nbreak",
    "\r",
    "\u{0}",
    "\u{1b}[31m",
    "\u{202e}",
    "户编号",
    "人员编号",
    "隔离编号",
    "监测编号",
    "预约编号",
    "车牌",
    "上午",
    "pm",
    "36.5",
    "37.3℃",
    "43.0",
    "36.55",
    "鄂A·12345",
    "鄂a 1234D",
    "XYZ123",
    "送餐",
    "劝返",
    "未登记",
    "来电",
    "2020-02-20 09:30",
    "2020-02-20 25:00",
    "1000001",
    "12.0",
];

/// Bytes that trouble a CSV or UTF-8 reader.
const NASTY: &[&[u8]] = &[
    b"\xff\xfe",
    b"\xc3",
    b"\xe4\xb8",
    b"\xed\xa0\x80",
    b"\xef\xbb\xbf",
    b"\xc0\x80",
    b"\r",
    b"\n",
    b"\r\n",
    b"\"",
    b"\"\"",
    b"a\"b",
    b"\0",
    b",",
];

fn hostile_cell() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::sample::select(PLAUSIBLE).prop_map(|s| s.as_bytes().to_vec()),
        1 => (
            190usize..3000,
            prop::sample::select(&["x", "中", "\u{0}", "\"", ",", " ", "\n"][..])
        )
            .prop_map(|(n, c)| c.repeat(n).into_bytes()),
        1 => any::<String>().prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..12),
        1 => prop::sample::select(NASTY).prop_map(<[u8]>::to_vec),
    ]
}

/// How a cell is written: as is, quoted properly, quoted without doubling
/// inner quotes, or padded.
fn quote(cell: &[u8], how: u8) -> Vec<u8> {
    match how {
        0 => cell.to_vec(),
        1 => {
            let mut out = vec![b'"'];
            for &b in cell {
                if b == b'"' {
                    out.push(b'"');
                }
                out.push(b);
            }
            out.push(b'"');
            out
        }
        2 => [b"\"", cell, b"\""].concat(),
        _ => [b"  ", cell, b" "].concat(),
    }
}

/// A CSV ledger of any kind with a real header (Chinese, or the English
/// names) and hostile rows.
fn hostile_csv() -> impl Strategy<Value = Vec<u8>> {
    let n_ledgers = Kind::with_ledger().count();
    (
        0..n_ledgers,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(prop::collection::vec((hostile_cell(), 0u8..4), 0..11), 0..6),
    )
        .prop_map(|(kind, english, bom, crlf, rows)| {
            let (_, ledger) = Kind::with_ledger().nth(kind).expect("a ledger");
            let header: Vec<&str> = if english {
                ledger.columns.iter().map(|c| c.en).collect()
            } else {
                ledger.headers()
            };
            let newline: &[u8] = if crlf { b"\r\n" } else { b"\n" };
            let mut out = Vec::new();
            if bom {
                out.extend_from_slice(b"\xef\xbb\xbf");
            }
            out.extend_from_slice(header.join(",").as_bytes());
            for row in rows {
                out.extend_from_slice(newline);
                let cells: Vec<Vec<u8>> = row.iter().map(|(c, how)| quote(c, *how)).collect();
                out.extend_from_slice(&cells.join(&b','));
            }
            out
        })
}

// ---------------------------------------------------------------- part 1: decoders

proptest! {
    #![proptest_config(config(500))]

    #[test]
    fn fuzz_protobuf_decoders_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check_pb(&bytes);
    }

    #[test]
    fn fuzz_protobuf_decoders_on_mutated_push(bytes in mutated(valid_push_bytes())) {
        check_pb(&bytes);
    }

    #[test]
    fn fuzz_tokens(
        body in prop_oneof![
            any::<String>(),
            "[A-Za-z0-9_=+/-]{0,120}",
            mutated(valid_token().leak().as_bytes())
                .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        ],
        prefix in prop::sample::select(&["", "lf1.", " lf1.", "LF1.", "lf1.\u{0}"][..]),
    ) {
        check_token(&format!("{prefix}{body}"));
    }

    #[test]
    fn fuzz_batch_numbering(
        first in prop_oneof![any::<u64>(), Just(0u64), Just(u64::MAX), (u64::MAX - 4)..=u64::MAX],
        steps in prop::collection::vec(prop_oneof![8 => Just(1u64), 1 => any::<u64>()], 0..6),
    ) {
        let seqs: Vec<u64> = std::iter::once(first)
            .chain(steps.iter().scan(first, |seq, step| {
                *seq = seq.wrapping_add(*step);
                Some(*seq)
            }))
            .collect();
        check_seqs(seqs);
    }

    #[test]
    fn fuzz_digests_from_wire(
        buckets in prop::collection::vec(
            (
                any::<u32>(),
                prop_oneof!["2020-02-[0-9]{2}", any::<String>()],
                0u32..40,
                any::<u64>(),
                prop::collection::vec(any::<u8>(), 0..40),
            )
                .prop_map(|(kind, day, shard, count, xor)| pb::BucketDigest { kind, day, shard, count, xor }),
            0..20,
        ),
        stamps in prop::collection::vec(any::<u64>(), 0..8),
    ) {
        check_buckets(&buckets);
        for stamp in stamps {
            let _ = digest::bucket(Kind::Person, "P1", stamp);
        }
    }

    #[test]
    fn fuzz_ledger_value_rules(s in prop_oneof![
        any::<String>(),
        prop::sample::select(PLAUSIBLE).prop_map(str::to_owned),
        "[0-9]{1,6}[-/.年][0-9]{1,3}[-/.月][0-9]{1,3}日?",
    ]) {
        let _ = validate::check_resident_id(&s);
        let _ = validate::check_passport(&s);
        let _ = validate::check_id_number("CN", &s);
        let _ = validate::check_phone(&s);
        let _ = validate::parse_date(&s, today());
        let _ = validate::parse_nationality(&s);
        let _ = validate::parse_housing(&s);
        let _ = validate::parse_isolation_kind(&s);
        let _ = validate::parse_registered(&s);
    }
}

#[test]
fn fuzz_bundle_files() {
    let hub = RefCell::new(BundleHub::new());
    let strategy = prop_oneof![
        mutated(valid_bundle_bytes()),
        prop::collection::vec(any::<u8>(), 0..256)
            .prop_map(|b| [bundle::MAGIC, b.as_slice()].concat()),
        prop::collection::vec(any::<u8>(), 0..64),
    ];
    run(500, strategy, |bytes| {
        check_pb(&bytes);
        check_bundle(&bytes, &mut hub.borrow_mut());
    });
}

#[test]
fn fuzz_ledger_csv_arbitrary_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("persons.csv");
    let header = generate::PERSON_HEADERS.join(",") + "\n";
    let header: &'static [u8] = header.leak().as_bytes();
    let strategy = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..1024),
        prop::collection::vec(any::<u8>(), 0..1024).prop_map(move |b| [header, &b].concat()),
    ];
    run(500, strategy, |bytes| {
        std::fs::write(&path, &bytes).unwrap();
        let _ = check_ledger(&path);
    });
}

#[test]
fn fuzz_ledger_csv_hostile_cells() {
    let dir = tempfile::tempdir().unwrap();
    let node = RefCell::new(ImportNode::new());
    let path = dir.path().join("ledger.csv");
    run(500, hostile_csv(), |bytes| {
        std::fs::write(&path, &bytes).unwrap();
        let _ = check_ledger(&path);
        node.borrow_mut().import(&path);
    });
}

/// A real workbook of the small compound, written once.
fn valid_xlsx_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.xlsx");
        small_compound().write_xlsx(&path).unwrap();
        std::fs::read(&path).unwrap()
    })
}

#[test]
fn fuzz_ledger_xlsx_random_bytes_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.xlsx");
    let strategy = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..2048),
        prop::collection::vec(any::<u8>(), 0..2048)
            .prop_map(|b| [b"PK\x03\x04".as_slice(), &b].concat()),
    ];
    run(300, strategy, |bytes| {
        std::fs::write(&path, &bytes).unwrap();
        let result = check_ledger(&path);
        assert!(result.is_err(), "random bytes read as a workbook");
    });
}

#[test]
fn fuzz_ledger_xlsx_mutated_workbook() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.xlsx");
    std::fs::write(&path, valid_xlsx_bytes()).unwrap();
    let ledger = check_ledger(&path).expect("the generated workbook reads");
    assert_eq!(
        ledger.of::<pb::Household>().len(),
        small_compound().households.len()
    );
    run(500, mutated(valid_xlsx_bytes()), |bytes| {
        std::fs::write(&path, &bytes).unwrap();
        let _ = check_ledger(&path);
    });
}

/// A compound with rows in every ledger (home isolations, so checks and
/// services), built once.
fn day_compound() -> &'static CompoundLedger {
    static COMPOUND: OnceLock<CompoundLedger> = OnceLock::new();
    COMPOUND.get_or_init(|| {
        let ledger = generate::compound(
            &StreetSpec {
                min_households: 60,
                max_households: 60,
                ..StreetSpec::demo(1)
            },
            0,
        );
        for (kind, _) in Kind::with_ledger() {
            assert!(ledger.n_of(kind) > 0, "{kind:?}");
        }
        ledger
    })
}

/// Values that are wrong in column `en` of `ledger` whatever the rest of
/// the row holds (a reference to nothing, a bad date, a value off its
/// list or range, a text too long, an empty required cell).
fn bad_cells(ledger: &str, column: &lianfang_proto::kinds::Column) -> Vec<String> {
    let long = "长".repeat(2001);
    let mut bad: Vec<String> = match (ledger, column.en) {
        (_, "person_id" | "household_id") if column.required => vec!["NOPE9".into()],
        (_, "person_id" | "household_id") => vec!["NOPE9".into(), long],
        (_, "date" | "received") => {
            vec!["2020-02-30".into(), "1999-12-31".into(), "明天".into()]
        }
        (_, "notified_on" | "collected_on" | "closed") => {
            vec!["2020-13-01".into(), "1999-12-31".into()]
        }
        (_, "reserved_at") => vec!["2020-02-20 25:00".into(), "2020-02-30 10:00".into()],
        (_, "temperature") => vec!["43.0".into(), "36.55".into(), "34.9".into()],
        (_, "slot") => vec!["晚上".into()],
        ("services", "kind") => vec!["洗衣".into()],
        (_, "quantity") => vec!["0".into(), "11".into(), "五".into()],
        (_, "phone") => vec!["12345".into()],
        (_, "plate") => vec!["XYZ123".into(), "鄂A1234".into()],
        (_, "action") => vec!["放行".into()],
        (_, "source") => vec!["网上".into()],
        ("surveys", "result") => vec!["不知道".into()],
        (_, "temperature_checks" | "parcels") => {
            vec!["-1".into(), "1000001".into(), "1.5".into()]
        }
        _ => vec![long],
    };
    if column.required {
        bad.push(String::new());
    }
    bad
}

/// Each day ledger of a real compound, one random cell of one random row
/// made bad: the import is refused naming that file, row and column with
/// a reason, and the node's log is as it was.
#[test]
fn fuzz_day_ledgers_with_a_bad_cell_are_refused_naming_it() {
    let compound = day_compound();
    let dir = tempfile::tempdir().unwrap();
    let files = compound.write_csv(&dir.path().join("base")).unwrap();
    assert_eq!(compound.code, "HM001", "the node's compound");
    let node = RefCell::new(ImportNode::new());
    let head = {
        let mut node = node.borrow_mut();
        lianfang_node::import::import_files(&mut node.store, &files, today(), 1_582_000_000_000)
            .expect("the base ledgers import");
        node.store.head().unwrap()
    };
    let day_ledgers: Vec<usize> = (0..files.len()).skip(3).collect();
    let strategy = (
        prop::sample::select(day_ledgers),
        any::<Index>(),
        any::<Index>(),
        any::<Index>(),
    );
    run(300, strategy, |(l, row, column, value)| {
        let rows = compound.ledgers()[l];
        let ledger = rows.kind().ledger().expect("a ledger");
        let row = row.index(rows.n_rows());
        let c = column.index(ledger.columns.len());
        let bad = bad_cells(ledger.name, &ledger.columns[c]);
        let bad = &bad[value.index(bad.len())];
        // The ledger's CSV with that one cell replaced.
        let path = dir.path().join(format!("{}.csv", ledger.name));
        let mut text = ledger.headers().join(",");
        for i in 0..rows.n_rows() {
            let mut cells = rows.cells(i);
            if i == row {
                cells[c].clone_from(bad);
            }
            assert!(
                cells.iter().all(|c| !c.contains([',', '"', '\n'])),
                "{cells:?}"
            );
            text.push('\n');
            text.push_str(&cells.join(","));
        }
        std::fs::write(&path, text).unwrap();
        let mut paths = files.clone();
        paths[l] = path.clone();

        let mut node = node.borrow_mut();
        let result = lianfang_node::import::import_files(
            &mut node.store,
            &paths,
            today(),
            1_582_000_000_000,
        );
        let what = format!(
            "{} row {} column {}: {bad:.20?}",
            ledger.name,
            row + 2,
            ledger.columns[c].en
        );
        let e = match result {
            Err(lianfang_node::import::ImportError::Ledger(e)) => e,
            other => panic!("{what}: {other:?}"),
        };
        assert_eq!(e.file, path.display().to_string(), "{what}: {e}");
        assert_eq!(e.row, Some(row + 2), "{what}: {e}");
        assert_eq!(
            e.column.as_deref(),
            Some(ledger.columns[c].en),
            "{what}: {e}"
        );
        assert!(!e.reason.trim().is_empty(), "{what}: {e}");
        assert_clear_ledger_error(&e, &path);
        assert_eq!(
            node.store.head().unwrap(),
            head,
            "{what}: something was applied"
        );
    });
}

// ---------------------------------------------------------------- part 3: corpus

fn corpus_files(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    files
}

/// Runs `check` on each file of a corpus target; returns how many files
/// it ran and adds every file whose check panicked (with the panic) to
/// `failures`, so one run reports them all.
fn each_corpus_file(
    target: &str,
    failures: &mut Vec<String>,
    mut check: impl FnMut(&Path),
) -> usize {
    let files = corpus_files(target);
    for path in &files {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(path)));
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            failures.push(format!("{}: {message}", path.display()));
        }
    }
    files.len()
}

#[test]
fn fuzz_corpus_regression() {
    let mut failures = Vec::new();
    let mut n = each_corpus_file("pb", &mut failures, |path| {
        check_pb(&std::fs::read(path).unwrap());
    });
    n += each_corpus_file("token", &mut failures, |path| {
        check_token(&String::from_utf8_lossy(&std::fs::read(path).unwrap()));
    });
    let mut hub = BundleHub::new();
    n += each_corpus_file("bundle", &mut failures, |path| {
        let bytes = std::fs::read(path).unwrap();
        check_pb(&bytes);
        check_bundle(&bytes, &mut hub);
    });
    let mut node = ImportNode::new();
    n += each_corpus_file("csv", &mut failures, |path| {
        let _ = check_ledger(path);
        node.import(path);
    });
    n += each_corpus_file("xlsx", &mut failures, |path| {
        let _ = check_ledger(path);
        node.import(path);
    });
    assert!(n >= 15, "only {n} corpus inputs");
    assert!(
        failures.is_empty(),
        "{} of {n} corpus inputs failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Set in the child process of [`fuzz_corpus_isolated`]: the file to check.
const ISOLATED_INPUT: &str = "LIANFANG_FUZZ_ISOLATED_INPUT";

/// Ledger files that once took the whole process down (an abort is not a
/// panic: nothing in-process survives it, and it would take every other
/// test of this binary with it). Each runs in a child process, this test
/// binary again filtered to this test, under a 4 GB address-space limit:
/// the child runs the in-process checks (read, then import into a node) on
/// the file in [`ISOLATED_INPUT`], and must pass.
#[test]
fn fuzz_corpus_isolated() {
    if let Some(path) = std::env::var_os(ISOLATED_INPUT) {
        let path = PathBuf::from(path);
        let _ = check_ledger(&path);
        ImportNode::new().import(&path);
        return;
    }
    let module = module_path!()
        .split_once("::")
        .map_or(module_path!(), |(_, m)| m);
    let test = format!("{module}::fuzz_corpus_isolated");
    let exe = std::env::current_exe().unwrap();
    let mut failures = Vec::new();
    for path in corpus_files("isolated") {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg("ulimit -v 4000000 && exec \"$0\" \"$@\"")
            .arg(&exe)
            .args([
                test.as_str(),
                "--exact",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(ISOLATED_INPUT, &path)
            .env("RUST_BACKTRACE", "0")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let ran = stdout.contains(&format!("test {test} ... ok"));
        if !out.status.success() || !ran {
            let tail: String = stderr
                .lines()
                .filter(|line| !line.trim().is_empty())
                .take(6)
                .collect::<Vec<_>>()
                .join(" | ");
            failures.push(format!("{}: child {}: {tail}", path.display(), out.status));
        }
    }
    assert!(
        failures.is_empty(),
        "{} ledger files broke the process:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------- part 2: the real hub

/// A raw gRPC client of the real hub, authenticated as one compound.
struct Raw {
    client: SyncClient<Channel>,
    token: String,
}

impl Raw {
    async fn connect(hub: &TestHub, token: &str) -> Raw {
        Raw {
            client: SyncClient::connect(hub.url())
                .await
                .unwrap()
                .max_decoding_message_size(64 << 20),
            token: token.to_owned(),
        }
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        authorized(message, &self.token)
    }

    async fn handshake(&mut self) -> u64 {
        let request = self.request(pb::HandshakeRequest {
            log_id: "L1".into(),
            version: "fuzz".into(),
            ..Default::default()
        });
        self.client
            .handshake(request)
            .await
            .expect("handshake")
            .into_inner()
            .cursor
    }

    async fn push(
        &mut self,
        lane: i32,
        entries: Vec<pb::LogEntry>,
    ) -> Result<pb::PushResponse, tonic::Status> {
        let request = self.request(pb::PushRequest {
            log_id: "L1".into(),
            head: entries.last().map_or(0, |e| e.seq),
            entries,
            lane,
        });
        Ok(self.client.push(request).await?.into_inner())
    }

    /// The same entries through `Exchange`, in the lane field `lane` names
    /// (the other lane empty), asking for nothing else.
    async fn exchange(
        &mut self,
        lane: Lane,
        entries: Vec<pb::LogEntry>,
    ) -> Result<pb::ExchangeResponse, tonic::Status> {
        let lane_entries = pb::LaneEntries {
            head: entries.last().map_or(0, |e| e.seq),
            entries,
        };
        let (urgent, bulk) = match lane {
            Lane::Urgent => (lane_entries, pb::LaneEntries::default()),
            Lane::Bulk => (pb::LaneEntries::default(), lane_entries),
        };
        let request = self.request(pb::ExchangeRequest {
            log_id: "L1".into(),
            version: "fuzz".into(),
            urgent: Some(urgent),
            bulk: Some(bulk),
            ..Default::default()
        });
        Ok(self.client.exchange(request).await?.into_inner())
    }
}

fn authorized<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii token"),
    );
    request
}

const VALID_ID: &str = "11010519491231002X";
const STAMP: u64 = 1_582_000_000_000 << 16;

fn wire(compound: &str, id: &str, body: pb::record::Body) -> pb::Record {
    pb::Record {
        compound: compound.into(),
        id: id.into(),
        stamp: STAMP,
        origin: format!("{compound}/fuzz"),
        deleted: false,
        body: Some(body),
    }
}

fn household() -> pb::Household {
    pb::Household {
        building: "1".into(),
        unit: "2".into(),
        room: "301".into(),
        housing: pb::Housing::Owner as i32,
    }
}

fn person() -> pb::Person {
    pb::Person {
        household_id: "H1".into(),
        name: "张三".into(),
        phone: "13912345678".into(),
        id_number: VALID_ID.into(),
        nationality: "CN".into(),
        origin: "湖北".into(),
        return_date: "2020-02-01".into(),
        registered: true,
    }
}

fn isolation() -> pb::Isolation {
    pb::Isolation {
        person_id: "P1".into(),
        kind: pb::IsolationKind::Home as i32,
        start: "2020-02-01".into(),
        release: String::new(),
    }
}

fn receipt() -> pb::Receipt {
    pb::Receipt {
        directive_id: "1".into(),
        acked_at: "2020-02-20T08:00:00Z".into(),
        response: "收到".into(),
    }
}

fn entry(seq: u64, record: pb::Record) -> pb::LogEntry {
    pb::LogEntry {
        seq,
        record: Some(record),
    }
}

/// A valid entry of `lane` numbered `seq`, with an id of its own.
fn valid_entry(compound: &str, lane: Lane, seq: u64) -> pb::LogEntry {
    use pb::record::Body;
    let body = match (lane, seq % 3) {
        (Lane::Urgent, _) => Body::Receipt(receipt()),
        (Lane::Bulk, 0) => Body::Household(household()),
        (Lane::Bulk, 1) => Body::Person(person()),
        (Lane::Bulk, _) => Body::Isolation(isolation()),
    };
    entry(seq, wire(compound, &format!("V{seq}"), body))
}

/// What the hub holds of a compound: both cursors and the live records of
/// every kind.
fn snapshot(hub: &TestHub, compound: &str) -> Vec<u64> {
    let store = hub.store();
    let mut state = vec![
        store.cursor(compound).expect("cursor"),
        store
            .lane_cursor_of(compound, Lane::Urgent)
            .expect("urgent cursor"),
    ];
    state.extend(
        Kind::ALL
            .iter()
            .map(|&kind| store.record_count(compound, kind).expect("count")),
    );
    state
}

/// A compound of its own with three valid entries already applied in its
/// bulk lane and two in its urgent lane; hostile batches continue at 4 / 3.
async fn fresh_compound(hub: &TestHub, code: &str) -> Raw {
    let token = hub.enroll(code);
    let mut raw = Raw::connect(hub, &token).await;
    assert_eq!(raw.handshake().await, 0);
    let bulk = (1..=3)
        .map(|seq| valid_entry(code, Lane::Bulk, seq))
        .collect();
    let reply = raw.push(Lane::Bulk as i32, bulk).await;
    assert_eq!(
        reply
            .map(|r| (r.cursor, r.applied))
            .map_err(|s| (s.code(), s.message().to_owned())),
        Ok((3, 3)),
        "{code}: valid bulk batch refused"
    );
    let urgent = (1..=2)
        .map(|seq| valid_entry(code, Lane::Urgent, seq))
        .collect();
    let reply = raw.push(Lane::Urgent as i32, urgent).await;
    assert_eq!(
        reply
            .map(|r| (r.cursor, r.applied))
            .map_err(|s| (s.code(), s.message().to_owned())),
        Ok((2, 2)),
        "{code}: valid urgent batch refused"
    );
    raw
}

/// One hostile push and what the hub must answer.
struct Hostile {
    name: &'static str,
    lane: i32,
    entries: Vec<pb::LogEntry>,
    code: Code,
    /// Text the status message must contain (the field, or where to resume).
    names: &'static str,
}

/// Pushes `case` for a fresh compound and collects every way the answer
/// falls short: wrong status, a message that does not name the field or
/// is unreadably long, or anything of the batch stored.
async fn refused_whole(hub: &TestHub, code: &str, case: Hostile, failures: &mut Vec<String>) {
    let mut raw = fresh_compound(hub, code).await;
    let before = snapshot(hub, code);
    let name = case.name;
    match raw.push(case.lane, case.entries.clone()).await {
        Ok(reply) => failures.push(format!(
            "{name}: accepted (cursor {}, applied {}); expected {:?} naming {:?}",
            reply.cursor, reply.applied, case.code, case.names
        )),
        Err(status) => {
            let message = status.message();
            let shown: String = message.chars().take(200).collect();
            if status.code() != case.code {
                failures.push(format!(
                    "{name}: {:?} {shown:?}; expected {:?}",
                    status.code(),
                    case.code
                ));
            }
            if !message.contains(case.names) {
                failures.push(format!(
                    "{name}: status message {shown:?} does not name {:?}",
                    case.names
                ));
            }
            if message.len() > 4096 {
                failures.push(format!(
                    "{name}: status message is {} bytes long",
                    message.len()
                ));
            }
        }
    }
    let after = snapshot(hub, code);
    if after != before {
        failures.push(format!(
            "{name}: stored (part of) a batch that must be refused: [bulk cursor, urgent cursor, counts by kind] {before:?} -> {after:?}"
        ));
    }

    // The same entries through Exchange, which carries lanes as fields: the
    // same refusal, except that a batch past the cursor is answered with
    // the cursor to resume from, and an empty lane is just nothing to send;
    // either way nothing is applied.
    let Ok(lane) = Lane::try_from(case.lane) else {
        return;
    };
    let nothing_to_send = case.entries.is_empty();
    match raw.exchange(lane, case.entries).await {
        Ok(reply) if case.code == Code::OutOfRange || nothing_to_send => {
            let cursor = match lane {
                Lane::Urgent => reply.urgent_cursor,
                Lane::Bulk => reply.bulk_cursor,
            };
            if cursor != before[lane as usize] {
                failures.push(format!(
                    "{name} via Exchange: cursor {cursor}, expected it to stay at {}",
                    before[lane as usize]
                ));
            }
        }
        Ok(reply) => failures.push(format!(
            "{name} via Exchange: accepted ({reply:?}); expected {:?} naming {:?}",
            case.code, case.names
        )),
        Err(status) => {
            if status.code() != case.code || !status.message().contains(case.names) {
                let shown: String = status.message().chars().take(200).collect();
                failures.push(format!(
                    "{name} via Exchange: {:?} {shown:?}; expected {:?} naming {:?}",
                    status.code(),
                    case.code,
                    case.names
                ));
            }
        }
    }
    let again = snapshot(hub, code);
    if again != before {
        failures.push(format!(
            "{name} via Exchange: stored (part of) a batch that must be refused: {before:?} -> {again:?}"
        ));
    }
}

/// A bulk batch of two valid entries (4, 5) and `bad` as entry 6.
fn bulk_with(code: &str, bad: pb::Record) -> Vec<pb::LogEntry> {
    vec![
        valid_entry(code, Lane::Bulk, 4),
        valid_entry(code, Lane::Bulk, 5),
        entry(6, bad),
    ]
}

fn bad_person(code: &str, edit: impl FnOnce(&mut pb::Person)) -> pb::Record {
    let mut p = person();
    edit(&mut p);
    wire(code, "PX", pb::record::Body::Person(p))
}

fn bad_isolation(code: &str, edit: impl FnOnce(&mut pb::Isolation)) -> pb::Record {
    let mut i = isolation();
    edit(&mut i);
    wire(code, "IX", pb::record::Body::Isolation(i))
}

fn bad_household(code: &str, edit: impl FnOnce(&mut pb::Household)) -> pb::Record {
    let mut h = household();
    edit(&mut h);
    wire(code, "HX", pb::record::Body::Household(h))
}

/// Hostile records in an otherwise valid batch: refused whole, naming the field.
fn hostile_records(code: &str) -> Vec<Hostile> {
    let bulk = Lane::Bulk as i32;
    let invalid = Code::InvalidArgument;
    let case = |name, record, names| Hostile {
        name,
        lane: bulk,
        entries: bulk_with(code, record),
        code: invalid,
        names,
    };
    vec![
        case(
            "unknown housing 99",
            bad_household(code, |h| h.housing = 99),
            "household.housing",
        ),
        case(
            "100 kB building",
            bad_household(code, |h| h.building = "楼".repeat(34_000)),
            "household.building",
        ),
        case(
            "100 kB name",
            bad_person(code, |p| p.name = "x".repeat(100_000)),
            "person.name",
        ),
        case(
            "empty name",
            bad_person(code, |p| p.name.clear()),
            "person.name",
        ),
        case(
            "return_date far in the future",
            bad_person(code, |p| p.return_date = "2999-01-01".into()),
            "person.return_date",
        ),
        case(
            "return_date before 2000",
            bad_person(code, |p| p.return_date = "1999-12-31".into()),
            "person.return_date",
        ),
        case(
            "return_date not a calendar date",
            bad_person(code, |p| p.return_date = "2020-02-30".into()),
            "person.return_date",
        ),
        case(
            "resident id with a bad check digit",
            bad_person(code, |p| p.id_number = "110105194912310021".into()),
            "person.id_number",
        ),
        case(
            "broken phone",
            bad_person(code, |p| p.phone = "12345".into()),
            "person.phone",
        ),
        case(
            "unknown nationality",
            bad_person(code, |p| p.nationality = "ZZ".into()),
            "person.nationality",
        ),
        case(
            "unknown isolation kind 99",
            bad_isolation(code, |i| i.kind = 99),
            "isolation.kind",
        ),
        case(
            "isolation start far in the future",
            bad_isolation(code, |i| i.start = "9999-12-31".into()),
            "isolation.start",
        ),
        case(
            "isolation release before 2000",
            bad_isolation(code, |i| i.release = "1900-01-01".into()),
            "isolation.release",
        ),
        case(
            "empty record id",
            pb::Record {
                id: String::new(),
                ..bad_household(code, |_| {})
            },
            "id",
        ),
        case(
            "missing body",
            pb::Record {
                body: None,
                ..bad_household(code, |_| {})
            },
            "body",
        ),
        Hostile {
            name: "entry without a record",
            lane: bulk,
            entries: {
                let mut entries = bulk_with(code, bad_household(code, |_| {}));
                entries[2].record = None;
                entries
            },
            code: invalid,
            names: "record",
        },
        Hostile {
            name: "record of another compound",
            lane: bulk,
            entries: bulk_with(
                code,
                pb::Record {
                    compound: "FZ-OTHER".into(),
                    ..bad_household(code, |_| {})
                },
            ),
            code: Code::PermissionDenied,
            names: "FZ-OTHER",
        },
        Hostile {
            name: "unknown task answer result 99",
            lane: Lane::Urgent as i32,
            entries: vec![
                valid_entry(code, Lane::Urgent, 3),
                valid_entry(code, Lane::Urgent, 4),
                entry(
                    5,
                    wire(
                        code,
                        "1/1",
                        pb::record::Body::TaskAnswer(pb::TaskAnswer {
                            directive_id: "1".into(),
                            entry_id: "1".into(),
                            result: 99,
                            note: String::new(),
                            answered_at: "2020-02-20T08:00:00Z".into(),
                        }),
                    ),
                ),
            ],
            code: invalid,
            names: "task_answer.result",
        },
    ]
}

/// Batches malformed as batches: refused whole, with the right status.
fn hostile_batches(code: &str) -> Vec<Hostile> {
    let bulk = Lane::Bulk as i32;
    let invalid = Code::InvalidArgument;
    let numbered = |seqs: &[u64]| -> Vec<pb::LogEntry> {
        seqs.iter()
            .map(|&seq| valid_entry(code, Lane::Bulk, seq))
            .collect()
    };
    vec![
        Hostile {
            name: "empty batch",
            lane: bulk,
            entries: vec![],
            code: invalid,
            names: "empty",
        },
        Hostile {
            name: "non-contiguous seqs",
            lane: bulk,
            entries: numbered(&[4, 5, 7]),
            code: invalid,
            names: "seq",
        },
        Hostile {
            name: "seq 0",
            lane: bulk,
            entries: numbered(&[0, 1, 2]),
            code: invalid,
            names: "seq",
        },
        Hostile {
            name: "gap after the cursor",
            lane: bulk,
            entries: numbered(&[10, 11, 12]),
            code: Code::OutOfRange,
            names: "expects 4",
        },
        Hostile {
            name: "seq u64::MAX alone",
            lane: bulk,
            entries: numbered(&[u64::MAX]),
            code: invalid,
            names: "sequence number 18446744073709551615",
        },
        Hostile {
            name: "seqs u64::MAX-1, u64::MAX",
            lane: bulk,
            entries: numbered(&[u64::MAX - 1, u64::MAX]),
            code: invalid,
            names: "sequence number 18446744073709551614",
        },
        Hostile {
            name: "seqs u64::MAX, 0 (wrapping)",
            lane: bulk,
            entries: numbered(&[u64::MAX, 0]),
            code: invalid,
            names: "seq",
        },
        Hostile {
            name: "unknown lane 7",
            lane: 7,
            entries: numbered(&[4, 5, 6]),
            code: invalid,
            names: "lane",
        },
        Hostile {
            name: "household in the urgent lane",
            lane: Lane::Urgent as i32,
            entries: vec![entry(
                3,
                wire(code, "HU", pb::record::Body::Household(household())),
            )],
            code: invalid,
            names: "lane",
        },
        Hostile {
            name: "30,000 entries in one batch",
            lane: bulk,
            entries: (4..4 + 30_000)
                .map(|seq| {
                    entry(
                        seq,
                        wire(
                            code,
                            &format!("B{seq}"),
                            pb::record::Body::Household(household()),
                        ),
                    )
                })
                .collect(),
            code: invalid,
            names: "entries",
        },
        Hostile {
            name: "5,000 valid entries then a broken phone",
            lane: bulk,
            entries: (4..4 + 5_000)
                .map(|seq| valid_entry(code, Lane::Bulk, seq))
                .chain(std::iter::once(entry(
                    5_004,
                    bad_person(code, |p| p.phone = "1391234567".into()),
                )))
                .collect(),
            code: invalid,
            names: "person.phone",
        },
    ]
}

/// The hub still serves a normal node: a generated compound syncs whole.
async fn hub_still_syncs(hub: &TestHub, index: usize) {
    let spec = StreetSpec {
        min_households: 5,
        max_households: 5,
        ..StreetSpec::demo(index + 1)
    };
    let ledger = generate::compound(&spec, index);
    let token = hub.enroll(&ledger.code);
    let nodes = tempfile::tempdir().unwrap();
    let data = node_with_ledger(nodes.path(), &ledger, &hub.url(), &token, false);
    let report = sync_once(&data, &SyncOptions::default(), |_| {})
        .await
        .expect("a normal sync after the hostile traffic");
    assert_eq!(report.cursor, report.head);
    let store = hub.store();
    for (kind, _) in Kind::with_ledger() {
        let n = ledger.n_of(kind);
        assert_eq!(
            store.record_count(&ledger.code, kind).unwrap(),
            n as u64,
            "{kind:?}"
        );
    }
}

/// The compound code the cases are built for; each case then gets a
/// compound of its own.
const TEMPLATE: &str = "FZ-TEMPLATE";

async fn refuse_all(hub: &TestHub, prefix: &str, cases: fn(&str) -> Vec<Hostile>) -> Vec<String> {
    let mut failures = Vec::new();
    for (i, mut case) in cases(TEMPLATE).into_iter().enumerate() {
        let code = format!("{prefix}{i:02}");
        for record in case.entries.iter_mut().filter_map(|e| e.record.as_mut()) {
            if record.compound == TEMPLATE {
                record.compound.clone_from(&code);
            }
        }
        refused_whole(hub, &code, case, &mut failures).await;
    }
    failures
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_hub_refuses_hostile_records_whole_naming_the_field() {
    let hub = TestHub::start().await;
    let failures = refuse_all(&hub, "FZR", hostile_records).await;
    hub_still_syncs(&hub, 1).await;
    hub.stop().await;
    assert!(
        failures.is_empty(),
        "{} hostile record cases fell short:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_hub_refuses_malformed_batches_whole() {
    let hub = TestHub::start().await;
    let failures = refuse_all(&hub, "FZB", hostile_batches).await;
    hub_still_syncs(&hub, 2).await;
    hub.stop().await;
    assert!(
        failures.is_empty(),
        "{} malformed batch cases fell short:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Imports, as the hub's `import-bundle` does, a correctly sealed bundle
/// whose urgent lane is valid and whose bulk lane ends in `bad`; collects
/// every way the answer falls short. The bundle is one input: none of it
/// may be stored.
async fn bundle_refused_whole(
    hub: &TestHub,
    code: &str,
    bad: impl FnOnce(&str) -> pb::Record,
    names: &str,
    failures: &mut Vec<String>,
) {
    let token = hub.enroll(code);
    let mut raw = Raw::connect(hub, &token).await;
    raw.handshake().await;
    let secret = token::decode(&token).unwrap().secret;
    let before = snapshot(hub, code);
    let bundle = pb::Bundle {
        compound: code.into(),
        log_id: "L1".into(),
        created_at: "2020-02-20T08:00:00Z".into(),
        lanes: vec![
            pb::BundleLane {
                lane: Lane::Urgent as i32,
                head: 2,
                entries: (1..=2)
                    .map(|seq| valid_entry(code, Lane::Urgent, seq))
                    .collect(),
            },
            pb::BundleLane {
                lane: Lane::Bulk as i32,
                head: 3,
                entries: vec![
                    valid_entry(code, Lane::Bulk, 1),
                    valid_entry(code, Lane::Bulk, 2),
                    entry(3, bad(code)),
                ],
            },
        ],
    };
    let bytes = bundle::seal(&bundle, &bundle::seal_key(&secret));
    let mut store = HubStore::open_or_create(hub.dir.path()).unwrap();
    // The same bundle with a bad seal is refused before anything is read.
    let mut forged = bytes.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let error = store.import_bundle(&forged).unwrap_err();
    assert!(error.to_string().contains("seal"), "{error}");
    assert_eq!(snapshot(hub, code), before);
    match store.import_bundle(&bytes) {
        Ok(import) => failures.push(format!(
            "{code}: bundle imported: {import:?}; expected an error naming {names:?}"
        )),
        Err(error) if !error.to_string().contains(names) => failures.push(format!(
            "{code}: bundle refused with {error:?}, which does not name {names:?}"
        )),
        Err(_) => {}
    }
    let after = snapshot(hub, code);
    if after != before {
        failures.push(format!(
            "{code}: a refused bundle stored part of itself: [bulk cursor, urgent cursor, counts by kind] {before:?} -> {after:?}"
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_hub_refuses_hostile_bundles_whole() {
    let hub = TestHub::start().await;
    let mut failures = Vec::new();
    bundle_refused_whole(
        &hub,
        "FZU1",
        |code| pb::Record {
            compound: "FZ-OTHER".into(),
            ..bad_household(code, |_| {})
        },
        "FZ-OTHER",
        &mut failures,
    )
    .await;
    bundle_refused_whole(
        &hub,
        "FZU2",
        |code| bad_household(code, |h| h.housing = 99),
        "household.housing",
        &mut failures,
    )
    .await;
    hub_still_syncs(&hub, 3).await;
    hub.stop().await;
    assert!(
        failures.is_empty(),
        "{} hostile bundle cases fell short:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A codec that sends and receives message bodies as raw bytes.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

#[derive(Debug)]
struct RawEncoder;

#[derive(Debug)]
struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

/// Calls `method` of the Sync service with `body` as the raw message.
async fn raw_call(
    channel: &Channel,
    token: &str,
    method: &str,
    body: Vec<u8>,
) -> Result<Vec<u8>, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let path = format!("/lianfang.v1.Sync/{method}").parse().expect("path");
    grpc.unary(authorized(body, token), path, RawCodec)
        .await
        .map(tonic::Response::into_inner)
}

/// Tiny deterministic generator for the garbage bodies.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_hub_answers_garbage_bodies_with_a_status() {
    let hub = TestHub::start().await;
    let code = "FZG";
    let mut raw = fresh_compound(&hub, code).await;
    let token = raw.token.clone();
    let channel = Channel::from_shared(hub.url())
        .unwrap()
        .connect()
        .await
        .unwrap();

    // A push whose person name is not UTF-8: refused, naming the field,
    // nothing stored.
    let before = snapshot(&hub, code);
    let marker = "NAME-MARKER";
    let batch = bulk_with(code, bad_person(code, |p| p.name = marker.into()));
    let mut body = pb::PushRequest {
        log_id: "L1".into(),
        head: 6,
        entries: batch,
        lane: Lane::Bulk as i32,
    }
    .encode_to_vec();
    let at = body
        .windows(marker.len())
        .position(|w| w == marker.as_bytes())
        .unwrap();
    body[at..at + 4].copy_from_slice(b"\xff\xfe\xc3\x28");
    let status = raw_call(&channel, &token, "Push", body)
        .await
        .expect_err("a name that is not UTF-8 was accepted");
    assert_ne!(status.code(), Code::Ok);
    assert!(status.message().contains("name"), "{status:?}");
    assert_eq!(snapshot(&hub, code), before);

    // Crafted and random garbage to every method: each gets a status from
    // the hub (not a dropped connection, not a panic, not a storage error).
    let valid = {
        let mut raw_push = bulk_with(code, bad_household(code, |_| {}));
        raw_push.truncate(3);
        pb::PushRequest {
            log_id: "L1".into(),
            head: 6,
            entries: raw_push,
            lane: Lane::Bulk as i32,
        }
        .encode_to_vec()
    };
    let mut bodies: Vec<Vec<u8>> = vec![
        vec![0xff; 16],
        vec![0x08; 1],
        [&[0x10][..], &[0xff; 10], &[0x01]].concat(),
        [&[0x10][..], &[0xff; 11]].concat(),
        vec![0x7b; 4000],
        vec![0x12, 0xff, 0xff, 0xff, 0xff, 0x0f],
        vec![0x00, 0x00],
        vec![0x0a, 0x05, b'L'],
        valid[..valid.len() / 2].to_vec(),
        valid[..valid.len() - 1].to_vec(),
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..40 {
        let len = (xorshift(&mut state) % 200) as usize;
        bodies.push((0..len).map(|_| xorshift(&mut state) as u8).collect());
        let mut mutated = valid.clone();
        for _ in 0..1 + xorshift(&mut state) % 4 {
            let i = (xorshift(&mut state) % mutated.len() as u64) as usize;
            mutated[i] = xorshift(&mut state) as u8;
        }
        bodies.push(mutated);
    }
    let mut failures = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        for method in ["Exchange", "Push", "Verify", "Pull"] {
            let answer = raw_call(&channel, &token, method, body.clone()).await;
            let Err(status) = answer else {
                continue;
            };
            let handled = match status.code() {
                Code::InvalidArgument
                | Code::OutOfRange
                | Code::PermissionDenied
                | Code::FailedPrecondition => true,
                // tonic's own answer to a body that does not decode.
                Code::Internal => status.message().contains("decode"),
                _ => false,
            };
            if !handled {
                failures.push(format!(
                    "{method} body #{i} ({} bytes): {:?} {:?}",
                    body.len(),
                    status.code(),
                    status.message()
                ));
            }
        }
    }
    // Hostile but well-formed pulls and verifies.
    let pull = pb::PullRequest {
        after: u64::MAX,
        max: u32::MAX,
    };
    let request = raw.request(pull);
    if let Err(status) = raw.client.pull(request).await {
        failures.push(format!("pull after u64::MAX: {status:?}"));
    }
    let exchange = pb::ExchangeRequest {
        log_id: "L1".into(),
        version: "\u{0}".repeat(1000),
        urgent: None,
        bulk: Some(pb::LaneEntries {
            head: u64::MAX,
            entries: vec![],
        }),
        down_cursor: u64::MAX,
        down_max: u32::MAX,
        digest_root: vec![0xff; 1000],
    };
    let request = raw.request(exchange);
    match raw.client.exchange(request).await {
        Err(status)
            if status.code() == Code::InvalidArgument && status.message().contains("head") => {}
        other => failures.push(format!("exchange claiming head u64::MAX: {other:?}")),
    }
    let exchange = pb::ExchangeRequest {
        log_id: "L1".into(),
        down_cursor: u64::MAX,
        down_max: u32::MAX,
        digest_root: vec![0xff; 1000],
        ..Default::default()
    };
    let request = raw.request(exchange);
    if let Err(status) = raw.client.exchange(request).await {
        failures.push(format!(
            "exchange after u64::MAX with a hostile root: {status:?}"
        ));
    }
    let buckets = vec![pb::BucketDigest {
        kind: 99,
        day: "\u{0}".repeat(1000),
        shard: u32::MAX,
        count: u64::MAX,
        xor: vec![0xff; 1000],
    }];
    let request = raw.request(pb::VerifyRequest { buckets });
    if let Err(status) = raw.client.verify(request).await
        && status.code() != Code::InvalidArgument
    {
        failures.push(format!("verify with hostile buckets: {status:?}"));
    }
    hub_still_syncs(&hub, 4).await;
    hub.stop().await;
    assert!(
        failures.is_empty(),
        "{} garbage calls were not answered cleanly:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
