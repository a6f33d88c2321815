//! Deterministic generator of a realistic street's compound ledgers (台账).
//!
//! [`street`] builds every compound of a [`StreetSpec`]; [`compound`] builds
//! one compound alone from its own sub-seed `(seed, index)`, so the two agree.
//! Same spec → identical records and byte-identical CSV. The numbers follow
//! Huamu Street in February 2020: ~70% owner-occupied, ~22% rented, ~8%
//! vacant households; ~2.35 persons per household; ~30% of persons returned
//! to Shanghai after 2020-01-20 (about 8% of them from 湖北); ~7.5% of persons
//! under home (居家) or central (集中) isolation. Every value passes the
//! ledger rules of DESIGN.md ("Compound ledger import").
//!
//! The compound's day ("The compound's whole day") fills the other eight
//! ledgers over the month ending at today, from a stream of the seed of its
//! own (so the three above do not depend on it): two temperature checks a
//! day of every home-isolated person (~3% of days missed, ~3% of days one
//! check missed, 0.4% fevers), services to their households (rubbish 80%,
//! meals 50%, shopping 35% of days), a mask queue (~¼ of households over
//! the month, notified a day or two later, mostly collected), 2–8 vehicles
//! a day (沪 60%, 鄂 5%, most 鄂 turned back), one or two disinfections,
//! a hotline ticket every other day, a count per gate per day (2–4 gates)
//! and a few surveys a day.
//!
//! Records hold the wire form (`pb::Person::nationality` is `"CN"` for
//! Chinese nationals); the CSV / xlsx writers print Chinese nationals as an
//! empty cell or `中国` (a compound's own habit, some compounds mix both).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use lianfang_proto::kinds::{Kind, KindBody};
use lianfang_proto::pb;
use lianfang_proto::pb::record::Body;
use lianfang_proto::validate::gb11643_check_char;
use rand::rngs::StdRng;
use rand::seq::SliceRandom as _;
use rand::{Rng, SeedableRng};

// ------------------------------------------------------------------ spec

/// What street to generate.
#[derive(Debug, Clone)]
pub struct StreetSpec {
    /// Master seed; compound `i` uses the sub-seed `(seed, i)`.
    pub seed: u64,
    /// Number of compounds (codes `HM001`, `HM002`, ...).
    pub compounds: usize,
    /// Smallest compound, in households.
    pub min_households: usize,
    /// Largest compound, in households.
    pub max_households: usize,
    /// The "current" date: no return or isolation start is after it.
    pub today: NaiveDate,
}

/// Compound sizes are `min + (max - min) * u^SIZE_SHAPE` over stratified
/// `u`, which puts the mean at 47% of the range (300..=2600 → ~1,380).
const SIZE_SHAPE: f64 = 1.13;

impl StreetSpec {
    /// A small street for demos and tests: seed 2020, today 2020-02-20,
    /// compounds of 80..=400 households.
    pub fn demo(compounds: usize) -> Self {
        StreetSpec {
            seed: 2020,
            compounds,
            min_households: 80,
            max_households: 400,
            today: default_today(),
        }
    }

    /// Huamu Street: 167 compounds of 300..=2600 households (mean ~1,380),
    /// ~230,000 households, ~540,000 persons, ~40,000 isolations.
    pub fn full_street() -> Self {
        StreetSpec {
            seed: 2020,
            compounds: 167,
            min_households: 300,
            max_households: 2600,
            today: default_today(),
        }
    }

    /// Number of households compound `index` will have. Sizes are a
    /// seed-dependent permutation of stratified quantiles, so the street
    /// total hardly depends on the seed.
    pub fn households_of(&self, index: usize) -> usize {
        let lo = self.min_households.min(self.max_households);
        let hi = self.min_households.max(self.max_households);
        let n = self.compounds.max(1) as u64;
        let s = splitmix64(self.seed ^ 0x51ce_5eed_0000_0001);
        let mut a = 1 + s % n;
        while gcd(a, n) != 1 {
            a += 1;
        }
        let b = (s >> 32) % n;
        let pos = (((index as u64 % n) as u128 * a as u128 + b as u128) % n as u128) as u64;
        let jitter = unit_f64(mix(self.seed ^ 0x0051_2e00, index as u64));
        let u = (pos as f64 + jitter) / n as f64;
        lo + ((hi - lo) as f64 * u.powf(SIZE_SHAPE)).round() as usize
    }
}

fn default_today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2020, 2, 20).unwrap_or_default()
}

/// Code of compound `index` (0-based): `HM001`, `HM002`, ...
pub fn compound_code(index: usize) -> String {
    make_id("HM", index as u64 + 1, 3)
}

/// Name of compound `index` (0-based); the first 167 names are distinct.
pub fn compound_name(index: usize) -> String {
    let mut seen: HashSet<String> = HashSet::new();
    let mut names: Vec<String> = Vec::with_capacity(index + 1);
    for n in REAL_NAMES {
        if names.len() > index {
            break;
        }
        if seen.insert((*n).to_string()) {
            names.push((*n).to_string());
        }
    }
    let (np, ns) = (NAME_PREFIXES.len(), NAME_SUFFIXES.len());
    let mut k = 0usize;
    while names.len() <= index && k < np * ns {
        let p = k % np;
        let s = (k / np + 3 * k) % ns;
        k += 1;
        let name = format!("{}{}", NAME_PREFIXES[p], NAME_SUFFIXES[s]);
        if seen.insert(name.clone()) {
            names.push(name);
        }
    }
    match names.get(index) {
        Some(n) => n.clone(),
        None => format!("花木{}号小区", index + 1),
    }
}

// ------------------------------------------------------------------ ledger

/// One compound's ledgers: `(id, record)` in id order, one field per kind
/// with a ledger ([`CompoundLedger::ledgers`] sees them all alike).
#[derive(Debug, Clone, PartialEq)]
pub struct CompoundLedger {
    /// The compound's code (`HM001`).
    pub code: String,
    /// The compound's name.
    pub name: String,
    /// 户: the flats.
    pub households: Vec<(String, pb::Household)>,
    /// 人员: who lives there, and who came back from where.
    pub persons: Vec<(String, pb::Person)>,
    /// 隔离: home and central isolations.
    pub isolations: Vec<(String, pb::Isolation)>,
    /// 健康监测: two temperatures a day of each home-isolated person.
    pub health_checks: Vec<(String, pb::HealthCheck)>,
    /// 上门服务: meals, rubbish and shopping for isolated households.
    pub services: Vec<(String, pb::Service)>,
    /// 口罩预约: the mask queue, ids in queue order.
    pub mask_reservations: Vec<(String, pb::MaskReservation)>,
    /// 车辆排查: vehicles checked at the gates.
    pub vehicle_checks: Vec<(String, pb::VehicleCheck)>,
    /// 消毒: disinfection rounds.
    pub disinfections: Vec<(String, pb::Disinfection)>,
    /// 12345工单: hotline tickets.
    pub hotline_tickets: Vec<(String, pb::HotlineTicket)>,
    /// 门岗统计: one count per gate per day.
    pub gate_counts: Vec<(String, pb::GateCount)>,
    /// 排摸: the compound's own surveys of possible returnees.
    pub surveys: Vec<(String, pb::Survey)>,
}

/// One ledger of a compound, whatever its kind: what generic code (the
/// writers, the tests' oracles) needs of it.
pub trait Rows {
    /// The kind of its records.
    fn kind(&self) -> Kind;
    /// How many rows it has.
    fn n_rows(&self) -> usize;
    /// Row `i`'s id.
    fn id(&self, i: usize) -> &str;
    /// Row `i` as a record body.
    fn body(&self, i: usize) -> Body;
    /// Row `i`'s ledger cells, its id first, as the registry writes them.
    fn cells(&self, i: usize) -> Vec<String>;
}

impl<M: KindBody> Rows for Vec<(String, M)> {
    fn kind(&self) -> Kind {
        M::KIND
    }

    fn n_rows(&self) -> usize {
        self.len()
    }

    fn id(&self, i: usize) -> &str {
        &self[i].0
    }

    fn body(&self, i: usize) -> Body {
        self[i].1.clone().into_body()
    }

    fn cells(&self, i: usize) -> Vec<String> {
        let (id, m) = &self[i];
        std::iter::once(id.clone()).chain(m.cells()).collect()
    }
}

/// CSV / sheet headers, exactly as compounds type them (the ledger format's).
pub use lianfang_proto::columns::{HOUSEHOLD_HEADERS, ISOLATION_HEADERS, PERSON_HEADERS};

/// The whole street, compound `i` from sub-seed `(seed, i)`; compounds are
/// built on a few threads but the result does not depend on that.
pub fn street(spec: &StreetSpec) -> Vec<CompoundLedger> {
    let n = spec.compounds;
    let threads = std::thread::available_parallelism()
        .map(|t| t.get())
        .unwrap_or(1)
        .clamp(1, 8)
        .min(n.max(1));
    if threads <= 1 {
        return (0..n).map(|i| compound(spec, i)).collect();
    }
    let parts: Vec<Vec<(usize, CompoundLedger)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t..n)
                        .step_by(threads)
                        .map(|i| (i, compound(spec, i)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut all: Vec<(usize, CompoundLedger)> = parts.into_iter().flatten().collect();
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, c)| c).collect()
}

/// Leaves only the three registers a compound kept before the kinds of its
/// day (households, persons, isolations), to compare a measurement with
/// one made before those kinds existed.
pub fn only_registers(ledger: &mut CompoundLedger) {
    ledger.health_checks.clear();
    ledger.services.clear();
    ledger.mask_reservations.clear();
    ledger.vehicle_checks.clear();
    ledger.disinfections.clear();
    ledger.hotline_tickets.clear();
    ledger.gate_counts.clear();
    ledger.surveys.clear();
}

/// Origins as real registrations spell them: rewrites each returnee's
/// origin to city, district and street/town level (e.g.
/// 湖北省孝感市孝南区新华街道), keeping its province (so the key-region
/// answer for a province name does not change) and leaving about one in ten
/// at province level. A household keeps one origin; the result depends only
/// on the ledger, so it is as deterministic as the generator. The default
/// generator never calls this ("varied" mode of the demo data).
pub fn vary_origins(ledger: &mut CompoundLedger) {
    for (id, person) in &mut ledger.persons {
        if person.origin.is_empty() {
            continue;
        }
        let h = mix(str_hash(&person.household_id), str_hash(&person.origin));
        // One person in five spells it on their own (another town).
        let h = if h.is_multiple_of(5) {
            mix(h, str_hash(id))
        } else {
            h
        };
        if h.is_multiple_of(10) {
            continue;
        }
        let origin = person.origin.trim();
        let (province, cities) = VARIED_CITIES
            .iter()
            .find(|(prov, _)| origin.starts_with(prov.trim_end_matches('省')))
            .map_or((origin.to_owned(), &OTHER_CITIES[..]), |(prov, cities)| {
                ((*prov).to_owned(), *cities)
            });
        let (city, districts) = cities[(splitmix64(h) % cities.len() as u64) as usize];
        let district = districts[(splitmix64(h ^ 1) % districts.len() as u64) as usize];
        let a = TOWN_SYLLABLES[(splitmix64(h ^ 2) % TOWN_SYLLABLES.len() as u64) as usize];
        let b = TOWN_SYLLABLES[(splitmix64(h ^ 3) % TOWN_SYLLABLES.len() as u64) as usize];
        let town = if splitmix64(h ^ 4).is_multiple_of(3) {
            "镇"
        } else {
            "街道"
        };
        person.origin = format!("{province}{city}{district}{a}{b}{town}");
    }
}

type Cities = &'static [(&'static str, &'static [&'static str])];

/// Cities and districts of the provinces the varied origins spell out.
static VARIED_CITIES: &[(&str, Cities)] = &[
    (
        "湖北省",
        &[
            (
                "武汉市",
                &[
                    "江岸区",
                    "江汉区",
                    "硚口区",
                    "汉阳区",
                    "武昌区",
                    "青山区",
                    "洪山区",
                    "东西湖区",
                    "蔡甸区",
                    "江夏区",
                    "黄陂区",
                    "新洲区",
                ],
            ),
            (
                "孝感市",
                &[
                    "孝南区",
                    "孝昌县",
                    "大悟县",
                    "云梦县",
                    "应城市",
                    "安陆市",
                    "汉川市",
                ],
            ),
            (
                "黄冈市",
                &[
                    "黄州区",
                    "团风县",
                    "红安县",
                    "罗田县",
                    "英山县",
                    "浠水县",
                    "蕲春县",
                    "黄梅县",
                    "麻城市",
                    "武穴市",
                ],
            ),
            (
                "荆州市",
                &[
                    "沙市区",
                    "荆州区",
                    "公安县",
                    "监利市",
                    "江陵县",
                    "石首市",
                    "洪湖市",
                    "松滋市",
                ],
            ),
            (
                "宜昌市",
                &[
                    "西陵区",
                    "伍家岗区",
                    "点军区",
                    "猇亭区",
                    "夷陵区",
                    "宜都市",
                    "当阳市",
                    "枝江市",
                ],
            ),
            (
                "襄阳市",
                &[
                    "襄城区",
                    "樊城区",
                    "襄州区",
                    "南漳县",
                    "谷城县",
                    "保康县",
                    "老河口市",
                    "枣阳市",
                    "宜城市",
                ],
            ),
            ("十堰市", &["茅箭区", "张湾区", "郧阳区", "丹江口市"]),
            ("随州市", &["曾都区", "随县", "广水市"]),
        ],
    ),
    (
        "浙江省",
        &[
            (
                "杭州市",
                &[
                    "上城区",
                    "拱墅区",
                    "西湖区",
                    "滨江区",
                    "萧山区",
                    "余杭区",
                    "临平区",
                    "钱塘区",
                    "富阳区",
                    "临安区",
                ],
            ),
            (
                "宁波市",
                &[
                    "海曙区",
                    "江北区",
                    "北仑区",
                    "镇海区",
                    "鄞州区",
                    "奉化区",
                    "余姚市",
                    "慈溪市",
                ],
            ),
            (
                "温州市",
                &[
                    "鹿城区",
                    "龙湾区",
                    "瓯海区",
                    "洞头区",
                    "瑞安市",
                    "乐清市",
                    "永嘉县",
                    "平阳县",
                    "苍南县",
                ],
            ),
            (
                "台州市",
                &["椒江区", "黄岩区", "路桥区", "临海市", "温岭市", "玉环市"],
            ),
            (
                "金华市",
                &["婺城区", "金东区", "义乌市", "东阳市", "永康市", "兰溪市"],
            ),
        ],
    ),
    (
        "江苏省",
        &[
            (
                "南京市",
                &[
                    "玄武区",
                    "秦淮区",
                    "建邺区",
                    "鼓楼区",
                    "浦口区",
                    "栖霞区",
                    "江宁区",
                ],
            ),
            (
                "苏州市",
                &[
                    "姑苏区",
                    "虎丘区",
                    "吴中区",
                    "相城区",
                    "吴江区",
                    "昆山市",
                    "常熟市",
                    "张家港市",
                    "太仓市",
                ],
            ),
            (
                "南通市",
                &["崇川区", "通州区", "海门区", "如皋市", "启东市", "海安市"],
            ),
            (
                "盐城市",
                &["亭湖区", "盐都区", "大丰区", "东台市", "射阳县", "阜宁县"],
            ),
        ],
    ),
    (
        "安徽省",
        &[
            (
                "合肥市",
                &[
                    "瑶海区",
                    "庐阳区",
                    "蜀山区",
                    "包河区",
                    "肥东县",
                    "肥西县",
                    "长丰县",
                ],
            ),
            (
                "阜阳市",
                &[
                    "颍州区",
                    "颍东区",
                    "颍泉区",
                    "临泉县",
                    "太和县",
                    "阜南县",
                    "颍上县",
                    "界首市",
                ],
            ),
            (
                "安庆市",
                &[
                    "迎江区",
                    "大观区",
                    "宜秀区",
                    "怀宁县",
                    "太湖县",
                    "宿松县",
                    "望江县",
                    "桐城市",
                    "潜山市",
                ],
            ),
        ],
    ),
    (
        "河南省",
        &[
            (
                "信阳市",
                &[
                    "浉河区",
                    "平桥区",
                    "罗山县",
                    "光山县",
                    "新县",
                    "商城县",
                    "固始县",
                    "潢川县",
                    "淮滨县",
                    "息县",
                ],
            ),
            (
                "南阳市",
                &[
                    "宛城区",
                    "卧龙区",
                    "南召县",
                    "方城县",
                    "西峡县",
                    "镇平县",
                    "内乡县",
                    "淅川县",
                    "邓州市",
                ],
            ),
            (
                "郑州市",
                &[
                    "中原区",
                    "二七区",
                    "金水区",
                    "惠济区",
                    "管城回族区",
                    "新郑市",
                    "登封市",
                ],
            ),
        ],
    ),
];

/// A province the lists above do not spell out gets a generic city.
static OTHER_CITIES: [(&str, &[&str]); 3] = [
    ("市辖区", &["城关区", "新城区", "老城区", "开发区"]),
    ("第一市", &["东区", "西区", "南区", "北区", "中区"]),
    (
        "第二市",
        &["城东区", "城西区", "城南区", "城北区", "高新区"],
    ),
];

/// Two of these make a street or town name (新华街道, 长安镇).
static TOWN_SYLLABLES: &[&str] = &[
    "新", "华", "长", "安", "东", "西", "南", "北", "中", "山", "河", "湖", "江", "桥", "城", "关",
    "花", "园", "龙", "凤", "青", "石", "白", "云", "金", "银", "水", "田", "林", "竹", "梅", "兴",
    "和", "平", "永", "宁", "康", "乐", "福", "寿", "泉", "港", "塘", "沟", "坪", "岗", "岭", "湾",
];

/// Compound `index` alone, identical to `street(spec)[index]`.
pub fn compound(spec: &StreetSpec, index: usize) -> CompoundLedger {
    Gen::new(spec, index).run()
}

impl CompoundLedger {
    /// Every ledger of the compound, in registry order
    /// ([`Kind::with_ledger`]).
    pub fn ledgers(&self) -> [&dyn Rows; 11] {
        [
            &self.households,
            &self.persons,
            &self.isolations,
            &self.health_checks,
            &self.services,
            &self.mask_reservations,
            &self.vehicle_checks,
            &self.disinfections,
            &self.hotline_tickets,
            &self.gate_counts,
            &self.surveys,
        ]
    }

    /// Records in all ledgers: what a fresh import writes.
    pub fn n_records(&self) -> usize {
        self.ledgers().iter().map(|rows| rows.n_rows()).sum()
    }

    /// Records of `kind` (0 for a kind without a ledger).
    pub fn n_of(&self, kind: Kind) -> usize {
        self.ledgers()
            .iter()
            .find(|rows| rows.kind() == kind)
            .map_or(0, |rows| rows.n_rows())
    }

    /// Every record as `(kind, id, body)`, ledger by ledger in id order.
    pub fn bodies(&self) -> impl Iterator<Item = (Kind, &str, Body)> + '_ {
        self.ledgers().into_iter().flat_map(|rows| {
            (0..rows.n_rows()).map(move |i| (rows.kind(), rows.id(i), rows.body(i)))
        })
    }

    /// The ledger's rows as the compound types them: the registry's cells,
    /// with Chinese nationals written as an empty cell or `中国` (the
    /// compound's own habit) in the person ledger.
    fn typed_rows<'a>(&'a self, rows: &'a dyn Rows) -> impl Iterator<Item = Vec<String>> + 'a {
        let style = cn_style(&self.code);
        let nationality = Kind::Person
            .ledger()
            .and_then(|l| l.columns.iter().position(|c| c.en == "nationality"));
        (0..rows.n_rows()).map(move |i| {
            let mut cells = rows.cells(i);
            if rows.kind() == Kind::Person
                && let Some(cell) = nationality.and_then(|n| cells.get_mut(n))
                && cell == "CN"
            {
                cn_label(style, i).clone_into(cell);
            }
            cells
        })
    }

    /// Writes one CSV per ledger, `<ledger name>.csv` (`households.csv`,
    /// …, `surveys.csv`; UTF-8, Chinese headers) into `dir`, creating it if
    /// needed; returns the paths in registry order.
    pub fn write_csv(&self, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let mut paths = Vec::new();
        for rows in self.ledgers() {
            let Some(ledger) = rows.kind().ledger() else {
                continue;
            };
            let path = dir.join(format!("{}.csv", ledger.name));
            let mut w = csv::Writer::from_path(&path)?;
            w.write_record(ledger.headers())?;
            for row in self.typed_rows(rows) {
                w.write_record(&row)?;
            }
            w.flush()?;
            paths.push(path);
        }
        Ok(paths)
    }

    /// Writes one workbook with a sheet per ledger, named by the ledger
    /// (`households`, `persons`, …, `surveys`); Chinese headers; every cell
    /// a string (empty values are left as blank cells).
    pub fn write_xlsx(&self, path: &Path) -> Result<(), rust_xlsxwriter::XlsxError> {
        use rust_xlsxwriter::{DocProperties, ExcelDateTime, Workbook, Worksheet};

        fn put<S: AsRef<str>>(
            ws: &mut Worksheet,
            row: u32,
            cells: &[S],
        ) -> Result<(), rust_xlsxwriter::XlsxError> {
            for (col, cell) in cells.iter().enumerate() {
                let cell = cell.as_ref();
                if !cell.is_empty() {
                    ws.write_string(row, col as u16, cell)?;
                }
            }
            Ok(())
        }

        let mut wb = Workbook::new();
        // A fixed creation time keeps the file reproducible.
        let created = ExcelDateTime::from_ymd(2020, 2, 20)?;
        wb.set_properties(&DocProperties::new().set_creation_datetime(&created));
        for rows in self.ledgers() {
            let Some(ledger) = rows.kind().ledger() else {
                continue;
            };
            let ws = wb.add_worksheet().set_name(ledger.name)?;
            put(ws, 0, &ledger.headers())?;
            for (r, row) in self.typed_rows(rows).enumerate() {
                put(ws, r as u32 + 1, &row)?;
            }
        }
        wb.save(path)
    }

    /// One day of ledger work, deterministic in `seed` (and the current
    /// records): about `fraction` of the record count is touched. Roughly a
    /// third of that budget is new persons returning on `day` (some moving
    /// into vacant flats, which become rented; some starting an isolation
    /// on `day`), the rest flips 返沪登记 to 是, marks residents as returned on
    /// `day`, switches housing between 自住 and 出租, starts isolations on
    /// `day`, corrects phone numbers and records early releases on `day`.
    /// Existing ids never change; new ids continue each sequence.
    ///
    /// The day's other ledgers get a whole day of work on `day` (from a
    /// stream of their own, whatever `fraction` is, as long as it is not 0):
    /// the day's health checks and services of the home-isolated, new mask
    /// reservations and the queue's notifications and collections, vehicle
    /// checks, disinfections, hotline tickets received and closed, a count
    /// per gate and surveys. Call it once per day.
    pub fn edit_day(&mut self, seed: u64, fraction: f64, day: NaiveDate) {
        let fraction = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let total = self.households.len() + self.persons.len() + self.isolations.len();
        let budget = (total as f64 * fraction).round() as usize;
        if budget == 0 {
            return;
        }
        let mut rng = StdRng::seed_from_u64(mix(
            mix(seed, str_hash(&self.code)),
            day.num_days_from_ce() as u64,
        ));
        let pools = Pools::new();
        let day_s = fmt_date(day);
        let day_n = day.num_days_from_ce();

        // Indexes over the current records (owned, so records can change).
        let (mut first_person, mut isolated, mut seen_ids) = {
            let hh: HashMap<&str, usize> = self
                .households
                .iter()
                .enumerate()
                .map(|(i, (id, _))| (id.as_str(), i))
                .collect();
            let mut first = vec![None; self.households.len()];
            for (i, (_, p)) in self.persons.iter().enumerate() {
                if let Some(&h) = hh.get(p.household_id.as_str()) {
                    first[h].get_or_insert(i);
                }
            }
            let pp: HashMap<&str, usize> = self
                .persons
                .iter()
                .enumerate()
                .map(|(i, (id, _))| (id.as_str(), i))
                .collect();
            let mut iso = vec![false; self.persons.len()];
            for (_, x) in &self.isolations {
                if let Some(&p) = pp.get(x.person_id.as_str()) {
                    iso[p] = true;
                }
            }
            let mut seen = HashSet::with_capacity(self.persons.len() * 2);
            for (_, p) in &self.persons {
                let v = p
                    .id_number
                    .get(..17)
                    .filter(|_| p.id_number.len() == 18)
                    .and_then(|x| x.parse::<u64>().ok());
                seen.extend(v);
            }
            (first, iso, seen)
        };
        let mut next_p = next_number(&self.persons);
        let mut next_g = next_number(&self.isolations);

        let n_new = (budget * 35 / 100).max(1);
        let n_reg = budget * 20 / 100;
        let n_ret = budget * 15 / 100;
        let n_house = budget * 10 / 100;
        let n_iso = budget * 10 / 100;
        let n_misc = budget.saturating_sub(n_new + n_reg + n_ret + n_house + n_iso);

        // 1. New returnees arriving on `day`.
        let mut vacant: Vec<usize> = (0..self.households.len())
            .filter(|&h| {
                self.households[h].1.housing == pb::Housing::Vacant as i32
                    && first_person[h].is_none()
            })
            .collect();
        let occupied: Vec<usize> = (0..self.households.len())
            .filter(|&h| first_person[h].is_some())
            .collect();
        let mut added = 0usize;
        while added < n_new && !self.households.is_empty() {
            let moving_in = !vacant.is_empty() && (occupied.is_empty() || rng.random_bool(0.2));
            let (h, count) = if moving_in {
                let k = rng.random_range(0..vacant.len());
                let h = vacant.swap_remove(k);
                self.households[h].1.housing = pb::Housing::Rented as i32;
                (h, rng.random_range(1..=3usize))
            } else if !occupied.is_empty() {
                (occupied[rng.random_range(0..occupied.len())], 1)
            } else {
                let h = rng.random_range(0..self.households.len());
                self.households[h].1.housing = pb::Housing::Rented as i32;
                (h, 1)
            };
            let hid = self.households[h].0.clone();
            let head = first_person[h].map(|i| self.persons[i].1.clone());
            let country = match &head {
                Some(p) if p.nationality != "CN" => Some(country_by_code(&p.nationality)),
                Some(_) => None,
                None if rng.random_bool(0.05) => Some(pick_country(&mut rng, &pools)),
                None => None,
            };
            let family: String = match (&head, country) {
                (Some(p), Some(c)) => foreign_family_of(c, &p.name).to_string(),
                (None, Some(c)) => pick(&mut rng, c.style.families()).to_string(),
                _ => String::new(),
            };
            let surname = match &head {
                Some(p) if country.is_none() && rng.random_bool(0.7) => {
                    p.name.chars().next().unwrap_or('王')
                }
                _ => pick_surname(&mut rng, &pools),
            };
            let prov = pick_province(&mut rng, &pools);
            let origin = origin_string(&mut rng, prov);
            for _ in 0..count {
                if added >= n_new {
                    break;
                }
                added += 1;
                let male = rng.random_bool(0.5);
                let year = rng.random_range(1950..=2000);
                let (name, id_number, nationality) = match country {
                    Some(c) => (
                        foreign_name(&mut rng, c, &family, male),
                        passport(&mut rng, c),
                        c.code.to_string(),
                    ),
                    None => {
                        let home = if rng.random_bool(0.6) {
                            Some(prov)
                        } else {
                            None
                        };
                        let region = region_code(&mut rng, home);
                        (
                            chinese_name(&mut rng, &pools, surname, male),
                            resident_id(&mut rng, &mut seen_ids, region, year, male),
                            "CN".to_string(),
                        )
                    }
                };
                let pid = make_id("P", next_p, 6);
                next_p += 1;
                let person = pb::Person {
                    household_id: hid.clone(),
                    name,
                    phone: new_phone(&mut rng, 0.03),
                    id_number,
                    nationality,
                    origin: origin.clone(),
                    return_date: day_s.clone(),
                    registered: rng.random_bool(0.85),
                };
                let iso_p = if prov == HUBEI { 0.9 } else { 0.3 };
                let iso = rng.random_bool(iso_p);
                if iso {
                    let central = rng.random_bool(if prov == HUBEI { 0.3 } else { 0.1 });
                    self.isolations.push((
                        make_id("G", next_g, 5),
                        pb::Isolation {
                            person_id: pid.clone(),
                            kind: iso_kind(central),
                            start: day_s.clone(),
                            release: String::new(),
                        },
                    ));
                    next_g += 1;
                }
                if first_person[h].is_none() {
                    first_person[h] = Some(self.persons.len());
                }
                self.persons.push((pid, person));
                isolated.push(iso);
            }
        }

        // 2. 返沪登记 flips to 是.
        let unregistered: Vec<usize> = (0..self.persons.len())
            .filter(|&i| {
                let p = &self.persons[i].1;
                !p.registered
                    && !p.return_date.is_empty()
                    && p.return_date.as_str() <= day_s.as_str()
            })
            .collect();
        for k in sample(&mut rng, unregistered.len(), n_reg) {
            self.persons[unregistered[k]].1.registered = true;
        }

        // 3. Residents who were away come back on `day`.
        let away: Vec<usize> = (0..self.persons.len())
            .filter(|&i| self.persons[i].1.return_date.is_empty())
            .collect();
        for k in sample(&mut rng, away.len(), n_ret) {
            let i = away[k];
            let prov = pick_province(&mut rng, &pools);
            let origin = origin_string(&mut rng, prov);
            let p = &mut self.persons[i].1;
            p.origin = origin;
            p.return_date = day_s.clone();
            p.registered = rng.random_bool(0.8);
        }

        // 4. Housing changes between 自住 and 出租 (occupied households only).
        let occupied: Vec<usize> = (0..self.households.len())
            .filter(|&h| first_person[h].is_some())
            .collect();
        for k in sample(&mut rng, occupied.len(), n_house) {
            let h = &mut self.households[occupied[k]].1;
            h.housing = if h.housing == pb::Housing::Rented as i32 {
                pb::Housing::Owner as i32
            } else {
                pb::Housing::Rented as i32
            };
        }

        // 5. Isolations starting on `day`, returnees first.
        let mut candidates: Vec<usize> = (0..self.persons.len())
            .filter(|&i| !isolated[i] && !self.persons[i].1.return_date.is_empty())
            .collect();
        if candidates.len() < n_iso {
            candidates.extend(
                (0..self.persons.len())
                    .filter(|&i| !isolated[i] && self.persons[i].1.return_date.is_empty()),
            );
        }
        for k in sample(&mut rng, candidates.len(), n_iso) {
            let i = candidates[k];
            isolated[i] = true;
            let central = rng.random_bool(0.15);
            self.isolations.push((
                make_id("G", next_g, 5),
                pb::Isolation {
                    person_id: self.persons[i].0.clone(),
                    kind: iso_kind(central),
                    start: day_s.clone(),
                    release: String::new(),
                },
            ));
            next_g += 1;
        }

        // 6. Corrections: new phone numbers, early releases on `day`.
        let n_phone = n_misc / 2;
        if !self.persons.is_empty() {
            for k in sample(&mut rng, self.persons.len(), n_phone) {
                self.persons[k].1.phone = new_phone(&mut rng, 0.0);
            }
        }
        let releasable: Vec<usize> = (0..self.isolations.len())
            .filter(|&i| {
                let x = &self.isolations[i].1;
                x.release.is_empty()
                    && parse_date(&x.start)
                        .map(|s| {
                            let s = s.num_days_from_ce();
                            s < day_n && s + 14 > day_n
                        })
                        .unwrap_or(false)
            })
            .collect();
        for k in sample(&mut rng, releasable.len(), n_misc - n_phone) {
            self.isolations[releasable[k]].1.release = day_s.clone();
        }

        // 7. The day's other ledgers: a whole day of work on `day`, from
        // a stream of its own.
        let mut rng = StdRng::seed_from_u64(mix(
            mix(mix(seed, str_hash(&self.code)), day_n as u64),
            DAY_STREAM,
        ));
        let mut work = DayWork::new(self);
        work.day(self, &mut rng, day);
    }
}

// ------------------------------------------------------------------ the day

/// The sub-stream of a compound's seed that the day's ledgers are drawn
/// from (health checks, services, masks, vehicles, disinfections, hotline,
/// gates, surveys).
const DAY_STREAM: u64 = 0x000d_a70f_0c0a_57ee;

/// Days of the day's ledgers the generator writes, ending at today.
const DAYS_OF_WORK: u64 = 30;

/// A temperature check is missed with these odds (both checks of a day,
/// or one of them); the person is then unchecked or half checked that day.
const MISSED_DAY: f64 = 0.03;
const MISSED_ONE: f64 = 0.03;
/// Odds that a check reads a fever (37.3 °C or more).
const FEVER: f64 = 0.004;

/// What one day of a compound's work needs to know of its ledgers, built
/// once (the persons and isolations do not change within the days).
struct DayWork {
    /// Staff (name pools for 测量人, 服务人, 执行人), stable per compound.
    staff: Vec<String>,
    volunteers: Vec<String>,
    /// The compound's gates and each one's share of the traffic.
    gates: Vec<(&'static str, f64)>,
    /// Home isolations: (person index, first day, end day exclusive), days
    /// from CE.
    home: Vec<(usize, i32, i32)>,
    /// Household index of each person.
    household_of: Vec<usize>,
    /// Households with somebody living there.
    occupied: Vec<usize>,
    /// First person of each household, if any.
    first_person: Vec<Option<usize>>,
    /// Persons who came back, and those of them not registered.
    returnees: Vec<usize>,
    unregistered: Vec<usize>,
    /// Next number of each day ledger's ids.
    next: [u64; 8],
    pools: Pools,
}

impl DayWork {
    fn new(ledger: &CompoundLedger) -> Self {
        let mut fixed = StdRng::seed_from_u64(mix(str_hash(&ledger.code), DAY_STREAM));
        let pools = Pools::new();
        let name = |rng: &mut StdRng| {
            let surname = pick_surname(rng, &pools);
            let male = rng.random_bool(0.5);
            chinese_name(rng, &pools, surname, male)
        };
        let staff: Vec<String> = (0..4).map(|_| name(&mut fixed)).collect();
        let volunteers: Vec<String> = (0..6).map(|_| name(&mut fixed)).collect();
        let n_gates = fixed.random_range(2..=4usize);
        let mut names = GATES.to_vec();
        // The main gate first, the others in a compound's own order.
        names[1..].shuffle(&mut fixed);
        let weights: Vec<f64> = (0..n_gates)
            .map(|g| {
                if g == 0 {
                    2.0
                } else {
                    fixed.random_range(0.4..1.0)
                }
            })
            .collect();
        let sum: f64 = weights.iter().sum();
        let gates = (0..n_gates).map(|g| (names[g], weights[g] / sum)).collect();

        let hh: HashMap<&str, usize> = ledger
            .households
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (id.as_str(), i))
            .collect();
        let pp: HashMap<&str, usize> = ledger
            .persons
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (id.as_str(), i))
            .collect();
        let mut first_person = vec![None; ledger.households.len()];
        let mut household_of = Vec::with_capacity(ledger.persons.len());
        let (mut returnees, mut unregistered) = (Vec::new(), Vec::new());
        for (i, (_, p)) in ledger.persons.iter().enumerate() {
            let h = hh.get(p.household_id.as_str()).copied().unwrap_or(0);
            household_of.push(h);
            if let Some(first) = first_person.get_mut(h) {
                first.get_or_insert(i);
            }
            if !p.return_date.is_empty() {
                returnees.push(i);
                if !p.registered {
                    unregistered.push(i);
                }
            }
        }
        let occupied = (0..ledger.households.len())
            .filter(|&h| first_person[h].is_some())
            .collect();
        let home = ledger
            .isolations
            .iter()
            .filter(|(_, x)| x.kind == pb::IsolationKind::Home as i32)
            .filter_map(|(_, x)| {
                let person = *pp.get(x.person_id.as_str())?;
                let start = parse_date(&x.start)?.num_days_from_ce();
                let end = parse_date(&x.release).map_or(start + 14, |r| r.num_days_from_ce());
                Some((person, start, end))
            })
            .collect();
        let next = [
            next_number(&ledger.health_checks),
            next_number(&ledger.services),
            next_number(&ledger.mask_reservations),
            next_number(&ledger.vehicle_checks),
            next_number(&ledger.disinfections),
            next_number(&ledger.hotline_tickets),
            next_number(&ledger.gate_counts),
            next_number(&ledger.surveys),
        ];
        DayWork {
            staff,
            volunteers,
            gates,
            home,
            household_of,
            occupied,
            first_person,
            returnees,
            unregistered,
            next,
            pools,
        }
    }

    /// The next id of day ledger `k` (in [`DayWork::next`]'s order).
    fn id(&mut self, k: usize) -> String {
        const PREFIXES: [(&str, usize); 8] = [
            ("HC", 7),
            ("SR", 7),
            ("MR", 6),
            ("VC", 6),
            ("DS", 5),
            ("TK", 5),
            ("GC", 5),
            ("SU", 6),
        ];
        let (prefix, width) = PREFIXES[k];
        let id = make_id(prefix, self.next[k], width);
        self.next[k] += 1;
        id
    }

    /// One day of the compound's work on `day`, nothing dated after it:
    /// the day's checks and services of the home-isolated, the mask queue
    /// moving, vehicles, disinfections, hotline tickets, gate counts and
    /// surveys.
    fn day(&mut self, ledger: &mut CompoundLedger, rng: &mut StdRng, day: NaiveDate) {
        let d = day.num_days_from_ce();
        let day_s = fmt_date(day);
        let n_households = ledger.households.len().max(1) as f64;
        let n_persons = ledger.persons.len() as f64;

        // Home-isolated persons today, in id order, and their households.
        let mut home: Vec<usize> = self
            .home
            .iter()
            .filter(|(_, start, end)| *start <= d && d < *end)
            .map(|(p, ..)| *p)
            .collect();
        home.sort_unstable();
        home.dedup();
        let mut households: Vec<usize> = home.iter().map(|&p| self.household_of[p]).collect();
        households.sort_unstable();
        households.dedup();

        // 健康监测: 上午 and 下午, a few missed, a few fevers.
        for &p in &home {
            let missed_day = rng.random_bool(MISSED_DAY);
            let missed_one = if rng.random_bool(MISSED_ONE) {
                Some(rng.random_range(0..2))
            } else {
                None
            };
            for (k, slot) in [pb::Slot::Am, pb::Slot::Pm].into_iter().enumerate() {
                if missed_day || missed_one == Some(k) {
                    continue;
                }
                let fever = rng.random_bool(FEVER);
                let tenths = if fever {
                    rng.random_range(373..=389)
                } else {
                    358 + rng.random_range(0..=7) + rng.random_range(0..=6)
                };
                let symptoms = if fever {
                    pick(rng, &["", "咳嗽", "乏力", "咽痛", "头痛"]).to_owned()
                } else {
                    String::new()
                };
                let checked_by = if rng.random_bool(0.85) {
                    pick_ref(rng, &self.staff[..2]).clone()
                } else {
                    String::new()
                };
                let id = self.id(0);
                ledger.health_checks.push((
                    id,
                    pb::HealthCheck {
                        person_id: ledger.persons[p].0.clone(),
                        date: day_s.clone(),
                        slot: slot as i32,
                        temperature_tenths: tenths,
                        symptoms,
                        checked_by,
                    },
                ));
            }
        }

        // 上门服务: rubbish most days, meals and shopping often.
        for &h in &households {
            for (kind, odds) in [
                (pb::ServiceKind::Rubbish, 0.8),
                (pb::ServiceKind::Meal, 0.5),
                (pb::ServiceKind::Shopping, 0.35),
            ] {
                if !rng.random_bool(odds) {
                    continue;
                }
                let by = pick_ref(rng, &self.volunteers).clone();
                let note = if rng.random_bool(0.08) {
                    pick(rng, &["放门口", "已电话告知", "代缴水电费"]).to_owned()
                } else {
                    String::new()
                };
                let id = self.id(1);
                ledger.services.push((
                    id,
                    pb::Service {
                        household_id: ledger.households[h].0.clone(),
                        date: day_s.clone(),
                        kind: kind as i32,
                        by,
                        note,
                    },
                ));
            }
        }

        // 口罩预约: the queue moves (notified a day or two after reserving,
        // collected soon after), then today's reservations join it.
        for (_, m) in ledger.mask_reservations.iter_mut() {
            let Some(reserved) = parse_date(reserved_day_of(&m.reserved_at)) else {
                continue;
            };
            if m.notified_on.is_empty() {
                let odds = match (day - reserved).num_days() {
                    ..=0 => 0.0,
                    1 => 0.55,
                    2 => 0.75,
                    _ => 0.6,
                };
                if odds > 0.0 && rng.random_bool(odds) {
                    m.notified_on = day_s.clone();
                }
            }
            if !m.notified_on.is_empty() && m.collected_on.is_empty() {
                let odds = if m.notified_on == day_s { 0.3 } else { 0.5 };
                if rng.random_bool(odds) {
                    m.collected_on = day_s.clone();
                }
            }
        }
        let n_masks = poisson(rng, n_households * 0.25 / DAYS_OF_WORK as f64);
        let mut times: Vec<(u32, u32)> = (0..n_masks)
            .map(|_| (rng.random_range(7..=21), rng.random_range(0..60)))
            .collect();
        times.sort_unstable();
        for (hour, minute) in times {
            let resident = !self.occupied.is_empty() && rng.random_bool(0.9);
            let (name, phone, household_id) = if resident {
                let h = pick(rng, &self.occupied);
                let p = self.first_person[h].unwrap_or(0);
                let person = &ledger.persons[p].1;
                let phone = if person.phone.is_empty() {
                    new_phone(rng, 0.0)
                } else {
                    person.phone.clone()
                };
                let household = if rng.random_bool(0.85) {
                    ledger.households[h].0.clone()
                } else {
                    String::new()
                };
                (person.name.clone(), phone, household)
            } else {
                let surname = pick_surname(rng, &self.pools);
                let male = rng.random_bool(0.5);
                (
                    chinese_name(rng, &self.pools, surname, male),
                    new_phone(rng, 0.0),
                    String::new(),
                )
            };
            let quantity = if rng.random_bool(0.7) {
                5
            } else {
                rng.random_range(1..=10)
            };
            let id = self.id(2);
            ledger.mask_reservations.push((
                id,
                pb::MaskReservation {
                    name,
                    phone,
                    household_id,
                    reserved_at: format!("{day_s} {hour:02}:{minute:02}"),
                    quantity,
                    notified_on: String::new(),
                    collected_on: String::new(),
                },
            ));
        }

        // 车辆排查: a handful a day, some from 湖北, some turned back.
        for _ in 0..rng.random_range(2..=8) {
            let (plate, province) = plate(rng);
            let back_odds = if province == '鄂' { 0.6 } else { 0.06 };
            let action = if rng.random_bool(back_odds) {
                pb::VehicleAction::TurnedBack
            } else {
                pb::VehicleAction::Registered
            };
            let note = match action {
                pb::VehicleAction::TurnedBack if rng.random_bool(0.5) => "非本小区车辆".to_owned(),
                pb::VehicleAction::Registered if rng.random_bool(0.1) => "业主车辆".to_owned(),
                _ => String::new(),
            };
            let id = self.id(3);
            ledger.vehicle_checks.push((
                id,
                pb::VehicleCheck {
                    date: day_s.clone(),
                    plate,
                    action: action as i32,
                    note,
                },
            ));
        }

        // 消毒: one or two rounds.
        for _ in 0..rng.random_range(1..=2) {
            let area = pick(rng, AREAS).to_owned();
            let by = if rng.random_bool(0.9) {
                pick_ref(rng, &self.staff).clone()
            } else {
                String::new()
            };
            let id = self.id(4);
            ledger.disinfections.push((
                id,
                pb::Disinfection {
                    date: day_s.clone(),
                    area,
                    by,
                },
            ));
        }

        // 12345工单: open ones get closed, a few new ones come in.
        for (_, t) in ledger.hotline_tickets.iter_mut() {
            if t.closed.is_empty() && rng.random_bool(0.4) {
                t.closed = day_s.clone();
                t.result =
                    pick(rng, &["已处理", "已电话回复", "已上门核实", "已转物业"]).to_owned();
            }
        }
        for _ in 0..poisson(rng, 0.5) {
            let same_day = rng.random_bool(0.2);
            let (closed, result) = if same_day {
                (day_s.clone(), "已电话回复".to_owned())
            } else {
                (String::new(), String::new())
            };
            let id = self.id(5);
            ledger.hotline_tickets.push((
                id,
                pb::HotlineTicket {
                    received: day_s.clone(),
                    subject: pick(rng, SUBJECTS).to_owned(),
                    closed,
                    result,
                },
            ));
        }

        // 门岗统计: one count per gate.
        let checks = n_persons * rng.random_range(0.5..0.9);
        let parcels = n_households * rng.random_range(0.6..1.1);
        for g in 0..self.gates.len() {
            let (gate, share) = self.gates[g];
            let jitter = rng.random_range(0.9..1.1);
            let id = self.id(6);
            ledger.gate_counts.push((
                id,
                pb::GateCount {
                    date: day_s.clone(),
                    gate: gate.to_owned(),
                    temperature_checks: (checks * share * jitter).round() as u64,
                    parcels: (parcels * share * jitter).round() as u64,
                },
            ));
        }

        // 排摸: calls, visits and lists; some find unregistered returnees.
        let n_surveys = poisson(rng, 1.0 + n_households / 800.0);
        for _ in 0..n_surveys {
            let source = pick(
                rng,
                &[
                    pb::SurveySource::Call,
                    pb::SurveySource::Visit,
                    pb::SurveySource::Visit,
                    pb::SurveySource::List,
                ],
            );
            let roll: f64 = rng.random();
            let result = if roll < 0.55 {
                pb::AnswerResult::Registered
            } else if roll < 0.7 {
                pb::AnswerResult::Unregistered
            } else if roll < 0.9 {
                pb::AnswerResult::NotLivingHere
            } else {
                pb::AnswerResult::Other
            };
            let found = match result {
                pb::AnswerResult::Unregistered if !self.unregistered.is_empty() => {
                    Some(pick(rng, &self.unregistered))
                }
                pb::AnswerResult::Registered | pb::AnswerResult::Unregistered
                    if !self.returnees.is_empty() && rng.random_bool(0.7) =>
                {
                    Some(pick(rng, &self.returnees))
                }
                _ => None,
            };
            let (name, h) = match found {
                Some(p) => (ledger.persons[p].1.name.clone(), self.household_of[p]),
                None => {
                    let surname = pick_surname(rng, &self.pools);
                    let male = rng.random_bool(0.5);
                    let h = rng.random_range(0..ledger.households.len().max(1));
                    (chinese_name(rng, &self.pools, surname, male), h)
                }
            };
            let address = ledger.households.get(h).map_or_else(
                || "门岗".to_owned(),
                |(_, x)| format!("{}号楼{}单元{}室", x.building, x.unit, x.room),
            );
            let note = match result {
                pb::AnswerResult::Unregistered => "已通知登记".to_owned(),
                pb::AnswerResult::NotLivingHere if rng.random_bool(0.5) => "房屋已出售".to_owned(),
                _ => String::new(),
            };
            let id = self.id(7);
            ledger.surveys.push((
                id,
                pb::Survey {
                    date: day_s.clone(),
                    name,
                    address,
                    source: source as i32,
                    result: result as i32,
                    person_id: found
                        .map(|p| ledger.persons[p].0.clone())
                        .unwrap_or_default(),
                    note,
                },
            ));
        }
    }
}

/// The day of a `reserved_at` (`YYYY-MM-DD HH:MM`).
fn reserved_day_of(reserved_at: &str) -> &str {
    reserved_at.get(..10).unwrap_or(reserved_at)
}

/// A count with mean `mean` (Poisson, by Knuth's product of uniforms; the
/// means here are small).
fn poisson(rng: &mut StdRng, mean: f64) -> u32 {
    let limit = (-mean.max(0.0)).exp();
    let mut product: f64 = rng.random();
    let mut n = 0;
    while product > limit && n < 1000 {
        product *= rng.random::<f64>();
        n += 1;
    }
    n
}

/// A plate as the gate writes it down, and its province character: mostly
/// 沪, then the neighbours, some 鄂; one in ten a new-energy plate.
fn plate(rng: &mut StdRng) -> (String, char) {
    const PROVINCES: [(char, u32); 10] = [
        ('沪', 60),
        ('苏', 9),
        ('浙', 9),
        ('皖', 6),
        ('鄂', 5),
        ('豫', 3),
        ('赣', 2),
        ('鲁', 2),
        ('京', 2),
        ('粤', 2),
    ];
    const BODY: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut x = rng.random_range(0..100);
    let mut province = '沪';
    for (c, w) in PROVINCES {
        if x < w {
            province = c;
            break;
        }
        x -= w;
    }
    let mut s = String::with_capacity(12);
    s.push(province);
    s.push(char::from(
        b'A' + rng.random_range(0..if province == '沪' { 14 } else { 26 }),
    ));
    if rng.random_bool(0.1) {
        s.push(if rng.random_bool(0.5) { 'D' } else { 'F' });
        push_num(&mut s, rng.random_range(0..100_000), 5);
    } else {
        for _ in 0..5 {
            if rng.random_bool(0.2) {
                s.push(char::from(pick(rng, BODY)));
            } else {
                s.push(char::from(b'0' + rng.random_range(0..10)));
            }
        }
    }
    (s, province)
}

/// Gates, the main one first.
const GATES: [&str; 6] = ["南门", "北门", "东门", "西门", "2号门", "车行门"];

/// What gets disinfected.
const AREAS: &[&str] = &[
    "全小区公共区域",
    "电梯轿厢",
    "楼道扶手",
    "垃圾箱房",
    "快递暂存点",
    "大门岗亭",
    "健身区",
    "地下车库",
];

/// What the hotline is called about.
const SUBJECTS: &[&str] = &[
    "楼道堆物",
    "口罩预约咨询",
    "隔离户生活物资",
    "返沪登记咨询",
    "外来人员进出",
    "快递进小区",
    "噪音扰民",
    "租户返沪未报",
    "垃圾清运不及时",
];

/// `amount` distinct indices below `len` (all of them when fewer), in a
/// deterministic order.
fn sample(rng: &mut StdRng, len: usize, amount: usize) -> Vec<usize> {
    rand::seq::index::sample(rng, len, amount.min(len)).into_vec()
}

/// One past the highest number in ids like `P000123`.
fn next_number<T>(rows: &[(String, T)]) -> u64 {
    rows.iter()
        .filter_map(|(id, _)| {
            let digits = id.trim_start_matches(|c: char| !c.is_ascii_digit());
            digits.parse::<u64>().ok()
        })
        .max()
        .unwrap_or(0)
        + 1
}

fn iso_kind(central: bool) -> i32 {
    if central {
        pb::IsolationKind::Central as i32
    } else {
        pb::IsolationKind::Home as i32
    }
}

/// How a compound writes Chinese nationality: 0 empty, 1 `中国`, 2 mixed.
fn cn_style(code: &str) -> u64 {
    str_hash(code) % 3
}

fn cn_label(style: u64, row: usize) -> &'static str {
    match style {
        0 => "",
        1 => "中国",
        _ => {
            if matches!(splitmix64(row as u64) % 3, 0) {
                "中国"
            } else {
                ""
            }
        }
    }
}

// ------------------------------------------------------------------ generator

/// Persons per occupied household: 1..=5 with these cumulative odds
/// (mean 2.55, so ~2.35 per household counting vacant ones).
const SIZE_CDF: [f64; 5] = [0.19, 0.51, 0.81, 0.94, 1.0];

struct Gen<'a> {
    spec: &'a StreetSpec,
    index: usize,
    rng: StdRng,
    pools: Pools,
    seen_ids: HashSet<u64>,
    /// Day numbers (days from CE).
    today: i32,
    ret_lo: i32,
    ret_main: i32,
    hubei_hi: i32,
    iso_lo: i32,
    next_p: u64,
    next_g: u64,
    persons: Vec<(String, pb::Person)>,
    isolations: Vec<(String, pb::Isolation)>,
}

impl<'a> Gen<'a> {
    fn new(spec: &'a StreetSpec, index: usize) -> Self {
        let today = spec.today.num_days_from_ce();
        let day = |y, m, d| {
            NaiveDate::from_ymd_opt(y, m, d)
                .map(|x| x.num_days_from_ce())
                .unwrap_or(today)
        };
        let floor = day(2000, 1, 1);
        let ret_lo = day(2020, 1, 20).min(today).max(floor);
        Gen {
            spec,
            index,
            rng: StdRng::seed_from_u64(mix(spec.seed, index as u64 + 1)),
            pools: Pools::new(),
            seen_ids: HashSet::new(),
            today,
            ret_lo,
            ret_main: day(2020, 2, 1).clamp(ret_lo, today.max(ret_lo)),
            hubei_hi: day(2020, 2, 7).clamp(ret_lo, today.max(ret_lo)),
            iso_lo: day(2020, 1, 24).clamp(ret_lo, today.max(ret_lo)),
            next_p: 1,
            next_g: 1,
            persons: Vec::new(),
            isolations: Vec::new(),
        }
    }

    fn day_in(&mut self, lo: i32, hi: i32) -> i32 {
        if hi <= lo {
            lo
        } else {
            self.rng.random_range(lo..=hi)
        }
    }

    fn return_day(&mut self, prov: usize) -> i32 {
        let today = self.today.max(self.ret_lo);
        if prov == HUBEI {
            self.day_in(self.ret_lo, self.hubei_hi)
        } else if self.rng.random_bool(0.25) {
            self.day_in(self.ret_lo, today)
        } else {
            self.day_in(self.ret_main, today)
        }
    }

    fn add_isolation(&mut self, person_id: &str, start: i32, central: bool) {
        let release = if self.rng.random_bool(0.05) {
            let r = (start + self.rng.random_range(7..=14)).min(self.today + 30);
            fmt_days(r)
        } else {
            String::new()
        };
        self.isolations.push((
            make_id("G", self.next_g, 5),
            pb::Isolation {
                person_id: person_id.to_string(),
                kind: iso_kind(central),
                start: fmt_days(start),
                release,
            },
        ));
        self.next_g += 1;
    }

    fn run(mut self) -> CompoundLedger {
        let code = compound_code(self.index);
        let name = compound_name(self.index);
        let n_households = self.spec.households_of(self.index);

        let international = name.contains("国际")
            || name.contains("仁恒")
            || name.contains("联洋")
            || self.rng.random_bool(0.07);
        let foreign_share = if international {
            self.rng.random_range(0.15..0.40)
        } else {
            self.rng.random_range(0.0..0.03)
        };
        let layout = Layout::choose(&mut self.rng, n_households as u32);

        let mut households = Vec::with_capacity(n_households);
        self.persons.reserve(n_households * 5 / 2);
        self.isolations.reserve(n_households / 5);
        self.seen_ids.reserve(n_households * 3);

        for h in 0..n_households {
            let (b, u, room) = layout.address(h as u32);
            let roll: f64 = self.rng.random();
            let housing = if roll < 0.70 {
                pb::Housing::Owner
            } else if roll < 0.92 {
                pb::Housing::Rented
            } else {
                pb::Housing::Vacant
            };
            let hid = make_id("H", h as u64 + 1, 5);
            households.push((
                hid.clone(),
                pb::Household {
                    building: num_string(b as u64),
                    unit: num_string(u as u64),
                    room: num_string(room as u64),
                    housing: housing as i32,
                },
            ));
            if housing != pb::Housing::Vacant {
                self.household_members(&hid, housing == pb::Housing::Rented, foreign_share);
            }
        }

        let mut ledger = CompoundLedger {
            code,
            name,
            households,
            persons: self.persons,
            isolations: self.isolations,
            health_checks: Vec::new(),
            services: Vec::new(),
            mask_reservations: Vec::new(),
            vehicle_checks: Vec::new(),
            disinfections: Vec::new(),
            hotline_tickets: Vec::new(),
            gate_counts: Vec::new(),
            surveys: Vec::new(),
        };
        // The day's other ledgers come from a stream of their own, so the
        // households, persons and isolations of a seed never change.
        let mut rng =
            StdRng::seed_from_u64(mix(mix(self.spec.seed, self.index as u64 + 1), DAY_STREAM));
        let today = self.spec.today;
        let first = today - chrono::Days::new(DAYS_OF_WORK - 1);
        let mut work = DayWork::new(&ledger);
        for day in first.iter_days().take_while(|d| *d <= today) {
            work.day(&mut ledger, &mut rng, day);
        }
        ledger
    }

    fn household_members(&mut self, hid: &str, rented: bool, foreign_share: f64) {
        let r: f64 = self.rng.random();
        let size = SIZE_CDF.iter().position(|&c| r < c).unwrap_or(4) + 1;
        let country = if self.rng.random_bool(foreign_share) {
            Some(pick_country(&mut self.rng, &self.pools))
        } else {
            None
        };

        // Returning together: same origin and date; sometimes isolated together.
        let ret_house = self.rng.random_bool(if rented { 0.45 } else { 0.22 });
        let origin_prov = pick_province(&mut self.rng, &self.pools);
        let origin = origin_string(&mut self.rng, origin_prov);
        let ret_day = self.return_day(origin_prov);
        let house_iso = ret_house && self.rng.random_bool(iso_odds(origin_prov));
        let house_central = self.rng.random_bool(central_odds(origin_prov));

        let home: Option<usize> =
            if ret_house && self.rng.random_bool(if rented { 0.75 } else { 0.55 }) {
                Some(origin_prov)
            } else if self.rng.random_bool(if rented { 0.3 } else { 0.7 }) {
                None
            } else {
                Some(pick_province(&mut self.rng, &self.pools))
            };

        let surname = pick_surname(&mut self.rng, &self.pools);
        let family = match country {
            Some(c) => pick(&mut self.rng, c.style.families()),
            None => "",
        };
        let head_year: i32 = if size == 1 {
            self.rng.random_range(1940..=1998)
        } else {
            self.rng.random_range(1940..=1995)
        };
        let head_male = self.rng.random_bool(0.55);
        let mut head_phone = String::new();

        for k in 0..size {
            let (year, male, kin) = match k {
                0 => (head_year, head_male, Kin::Head),
                1 => (
                    (head_year + self.rng.random_range(-4..=4)).clamp(1935, 2001),
                    !head_male,
                    Kin::Spouse,
                ),
                _ if self.rng.random_bool(0.75) => (
                    (head_year + self.rng.random_range(22..=36)).clamp(1935, 2019),
                    self.rng.random_bool(0.5),
                    Kin::Child,
                ),
                _ => (
                    (head_year - self.rng.random_range(22..=36)).max(1935),
                    self.rng.random_bool(0.45),
                    Kin::Elder,
                ),
            };
            let (name, id_number, nationality) = match country {
                Some(c) => {
                    let fam = if kin == Kin::Spouse && self.rng.random_bool(0.2) {
                        pick(&mut self.rng, c.style.families())
                    } else {
                        family
                    };
                    (
                        foreign_name(&mut self.rng, c, fam, male),
                        passport(&mut self.rng, c),
                        c.code.to_string(),
                    )
                }
                None => {
                    let sn = match kin {
                        Kin::Head | Kin::Child => surname,
                        Kin::Elder if self.rng.random_bool(0.6) => surname,
                        _ => pick_surname(&mut self.rng, &self.pools),
                    };
                    // A spouse or elder is sometimes from elsewhere.
                    let own_home =
                        if kin != Kin::Child && kin != Kin::Head && self.rng.random_bool(0.3) {
                            if self.rng.random_bool(0.5) {
                                None
                            } else {
                                Some(pick_province(&mut self.rng, &self.pools))
                            }
                        } else {
                            home
                        };
                    let region = region_code(&mut self.rng, own_home);
                    (
                        chinese_name(&mut self.rng, &self.pools, sn, male),
                        resident_id(&mut self.rng, &mut self.seen_ids, region, year, male),
                        "CN".to_string(),
                    )
                }
            };
            let phone = if year >= 2008 {
                if self.rng.random_bool(0.6) {
                    head_phone.clone()
                } else {
                    String::new()
                }
            } else {
                new_phone(&mut self.rng, 0.03)
            };
            if k == 0 {
                head_phone = phone.clone();
            }

            let pid = make_id("P", self.next_p, 6);
            self.next_p += 1;

            let returned = if ret_house {
                self.rng.random_bool(0.9)
            } else {
                self.rng.random_bool(0.0724)
            };
            let person = if returned {
                let (org, rday, iso, central) = if ret_house {
                    (origin.clone(), ret_day, house_iso, house_central)
                } else {
                    let prov = pick_province(&mut self.rng, &self.pools);
                    let org = origin_string(&mut self.rng, prov);
                    let rday = self.return_day(prov);
                    let iso = self.rng.random_bool(iso_odds(prov));
                    let central = self.rng.random_bool(central_odds(prov));
                    (org, rday, iso, central)
                };
                if iso {
                    self.add_isolation(&pid, rday, central);
                }
                pb::Person {
                    household_id: hid.to_string(),
                    name,
                    phone,
                    id_number,
                    nationality,
                    origin: org,
                    return_date: fmt_days(rday),
                    registered: self.rng.random_bool(0.9),
                }
            } else {
                if self.rng.random_bool(0.013) {
                    let start = self.day_in(self.iso_lo, self.today.max(self.iso_lo));
                    let central = self.rng.random_bool(0.2);
                    self.add_isolation(&pid, start, central);
                }
                pb::Person {
                    household_id: hid.to_string(),
                    name,
                    phone,
                    id_number,
                    nationality,
                    origin: String::new(),
                    return_date: String::new(),
                    registered: self.rng.random_bool(0.05),
                }
            };
            self.persons.push((pid, person));
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kin {
    Head,
    Spouse,
    Child,
    Elder,
}

/// Odds that a returnee (household) from `prov` is isolated.
fn iso_odds(prov: usize) -> f64 {
    if prov == HUBEI { 0.9 } else { 0.161 }
}

/// Odds that such an isolation is central rather than at home.
fn central_odds(prov: usize) -> f64 {
    if prov == HUBEI { 0.3 } else { 0.07 }
}

/// Building layout: units per building, floors, rooms per floor.
struct Layout {
    units: u32,
    floors: u32,
    rooms: u32,
}

impl Layout {
    fn choose(rng: &mut StdRng, households: u32) -> Self {
        let mut l = if rng.random_bool(0.55) {
            // 新村: six-storey walk-ups, two or three flats a landing.
            Layout {
                units: rng.random_range(2..=5),
                floors: rng.random_range(5..=7),
                rooms: rng.random_range(2..=3),
            }
        } else {
            // High-rise: one or two lifts, 11 to 33 floors.
            Layout {
                units: rng.random_range(1..=2),
                floors: rng.random_range(11..=33),
                rooms: rng.random_range(2..=4),
            }
        };
        while households.div_ceil(l.units * l.floors * l.rooms) > 60 {
            if l.units < 6 {
                l.units += 1;
            } else {
                l.floors += 1;
            }
        }
        l
    }

    /// (building, unit, room) of the `h`-th flat; room = floor * 100 + flat.
    fn address(&self, h: u32) -> (u32, u32, u32) {
        let per_unit = self.floors * self.rooms;
        let per_building = self.units * per_unit;
        let b = h / per_building + 1;
        let rem = h % per_building;
        let u = rem / per_unit + 1;
        let rem = rem % per_unit;
        let floor = rem / self.rooms + 1;
        let flat = rem % self.rooms + 1;
        (b, u, floor * 100 + flat)
    }
}

// ------------------------------------------------------------------ values

/// Character pools, split once per compound.
struct Pools {
    surnames: Vec<char>,
    male: Vec<char>,
    female: Vec<char>,
    province_total: u32,
    country_total: u32,
}

impl Pools {
    fn new() -> Self {
        Pools {
            surnames: SURNAMES.chars().collect(),
            male: MALE_GIVEN.chars().collect(),
            female: FEMALE_GIVEN.chars().collect(),
            province_total: PROVINCES.iter().map(|p| p.weight).sum(),
            country_total: COUNTRIES.iter().map(|c| c.weight).sum(),
        }
    }
}

fn pick<T: Copy>(rng: &mut StdRng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

fn pick_ref<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// Common surnames come first in the list and are drawn more often.
fn pick_surname(rng: &mut StdRng, pools: &Pools) -> char {
    let n = pools.surnames.len();
    let i = rng.random_range(0..n).min(rng.random_range(0..n));
    pools.surnames[i]
}

fn chinese_name(rng: &mut StdRng, pools: &Pools, surname: char, male: bool) -> String {
    let given = if male { &pools.male } else { &pools.female };
    let mut s = String::with_capacity(12);
    s.push(surname);
    s.push(pick(rng, given));
    if rng.random_bool(0.72) {
        s.push(pick(rng, given));
    }
    s
}

/// An 18-character resident ID, unique within `seen`: region, birth date,
/// sequence (odd last digit for men), GB 11643 check character.
fn resident_id(
    rng: &mut StdRng,
    seen: &mut HashSet<u64>,
    region: u32,
    year: i32,
    male: bool,
) -> String {
    let year = year.clamp(1935, 2019) as u32;
    let month = rng.random_range(1..=12u32);
    let day = rng.random_range(1..=days_in_month(year, month));
    let date = u64::from(year * 10_000 + month * 100 + day);
    let base = u64::from(region) * 100_000_000_000 + date * 1_000;
    let mut tries = 0;
    let first17 = loop {
        let mut seq = rng.random_range(0..500u64) * 2 + u64::from(male);
        if seq == 0 {
            seq = 2;
        }
        let v = base + seq;
        tries += 1;
        if seen.insert(v) || tries > 50 {
            break v;
        }
    };
    let mut s = String::with_capacity(18);
    push_num(&mut s, first17, 17);
    let check = gb11643_check_char(&s).unwrap_or('X');
    s.push(check);
    s
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if NaiveDate::from_ymd_opt(year as i32, 2, 29).is_some() => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Mobile number 1[3-9]x plus 8 digits, or empty with odds `empty`.
fn new_phone(rng: &mut StdRng, empty: f64) -> String {
    if empty > 0.0 && rng.random_bool(empty) {
        return String::new();
    }
    let prefix = pick(rng, PHONE_PREFIXES);
    let mut s = String::with_capacity(11);
    push_num(&mut s, u64::from(prefix), 3);
    push_num(&mut s, rng.random_range(0..100_000_000u64), 8);
    s
}

fn region_code(rng: &mut StdRng, home: Option<usize>) -> u32 {
    match home {
        Some(p) => pick(rng, PROVINCES[p].codes),
        None if rng.random_bool(0.5) => 310115,
        None => pick(rng, SHANGHAI_CODES),
    }
}

fn pick_province(rng: &mut StdRng, pools: &Pools) -> usize {
    let mut x = rng.random_range(0..pools.province_total);
    for (i, p) in PROVINCES.iter().enumerate() {
        if x < p.weight {
            return i;
        }
        x -= p.weight;
    }
    PROVINCES.len() - 1
}

/// How the ledger spells the place: mostly the full province name.
fn origin_string(rng: &mut StdRng, prov: usize) -> String {
    if prov == HUBEI {
        let r = rng.random_range(0..100);
        return match r {
            0..45 => "湖北省武汉市",
            45..70 => "湖北省",
            70..90 => "湖北",
            90..95 => "湖北省孝感市",
            _ => "湖北省黄冈市",
        }
        .to_string();
    }
    let p = &PROVINCES[prov];
    if rng.random_bool(0.15) {
        p.short
    } else {
        p.name
    }
    .to_string()
}

fn pick_country(rng: &mut StdRng, pools: &Pools) -> &'static Country {
    let mut x = rng.random_range(0..pools.country_total);
    for c in COUNTRIES {
        if x < c.weight {
            return c;
        }
        x -= c.weight;
    }
    &COUNTRIES[0]
}

fn country_by_code(code: &str) -> &'static Country {
    COUNTRIES
        .iter()
        .find(|c| c.code.eq_ignore_ascii_case(code))
        .unwrap_or(&COUNTRIES[0])
}

/// The family-name part of an existing foreign name.
fn foreign_family_of<'n>(c: &Country, name: &'n str) -> &'n str {
    if c.style.family_first() {
        name.split(' ').next().unwrap_or(name)
    } else {
        name.rsplit(' ').next().unwrap_or(name)
    }
}

fn foreign_name(rng: &mut StdRng, c: &Country, family: &str, male: bool) -> String {
    let given = pick(rng, c.style.given(male));
    let mut s = String::with_capacity(family.len() + given.len() + 1);
    if c.style.family_first() {
        s.push_str(family);
        s.push(' ');
        s.push_str(given);
    } else {
        s.push_str(given);
        s.push(' ');
        s.push_str(family);
    }
    s
}

/// A passport number in the country's usual shape (5–20 letters/digits).
fn passport(rng: &mut StdRng, c: &Country) -> String {
    const LETTERS: &[u8] = b"ABCDEFGHJKLMNPRSTUVWXYZ";
    const ALNUM: &[u8] = b"CFGHJKLMNPRTVWXYZ0123456789";
    let mut s = String::with_capacity(10);
    let letter = |rng: &mut StdRng| pick(rng, LETTERS) as char;
    match c.passport {
        PassportShape::Digits9 => {
            push_num(&mut s, rng.random_range(100_000_000..1_000_000_000u64), 9)
        }
        PassportShape::TwoLetters7 => {
            s.push(letter(rng));
            s.push(letter(rng));
            push_num(&mut s, rng.random_range(0..10_000_000u64), 7);
        }
        PassportShape::Letter8 => {
            s.push(letter(rng));
            push_num(&mut s, rng.random_range(0..100_000_000u64), 8);
        }
        PassportShape::German => {
            s.push('C');
            for _ in 0..8 {
                s.push(pick(rng, ALNUM) as char);
            }
        }
        PassportShape::French => {
            push_num(&mut s, rng.random_range(0..100u64), 2);
            s.push(letter(rng));
            s.push(letter(rng));
            push_num(&mut s, rng.random_range(0..100_000u64), 5);
        }
        PassportShape::Singapore => {
            s.push(if rng.random_bool(0.7) { 'E' } else { 'K' });
            push_num(&mut s, rng.random_range(0..10_000_000u64), 7);
            s.push(letter(rng));
        }
    }
    s
}

// ------------------------------------------------------------------ formatting

fn push_num(s: &mut String, n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for _ in (buf.len() - i)..width {
        s.push('0');
    }
    for &b in &buf[i..] {
        s.push(b as char);
    }
}

fn num_string(n: u64) -> String {
    let mut s = String::with_capacity(4);
    push_num(&mut s, n, 1);
    s
}

fn make_id(prefix: &str, n: u64, width: usize) -> String {
    let mut s = String::with_capacity(prefix.len() + width);
    s.push_str(prefix);
    push_num(&mut s, n, width);
    s
}

fn fmt_date(d: NaiveDate) -> String {
    let mut s = String::with_capacity(10);
    push_num(&mut s, d.year().max(0) as u64, 4);
    s.push('-');
    push_num(&mut s, u64::from(d.month()), 2);
    s.push('-');
    push_num(&mut s, u64::from(d.day()), 2);
    s
}

fn fmt_days(days_from_ce: i32) -> String {
    fmt_date(NaiveDate::from_num_days_from_ce_opt(days_from_ce).unwrap_or_default())
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

// ------------------------------------------------------------------ hashing

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn mix(a: u64, b: u64) -> u64 {
    splitmix64(splitmix64(a) ^ b.wrapping_mul(0xd1b5_4a32_d192_ed03))
}

fn str_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn unit_f64(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

// ------------------------------------------------------------------ tables

const REAL_NAMES: &[&str] = &[
    "联洋新苑",
    "锦绣苑",
    "东城五居委",
    "钦洋苑",
    "大唐国际公寓",
    "仁恒河滨城",
    "联洋花园",
    "联洋年华",
    "证大家园",
    "玉兰香苑",
    "培花新村",
    "明月苑",
    "银杏苑",
    "牡丹园",
    "芳草苑",
    "梅花苑",
    "樱花苑",
    "锦华苑",
    "御翠园",
    "花木苑",
    "东城花苑",
    "世纪花园",
    "陆家嘴花园",
    "东方知音苑",
    "香榭丽花园",
    "天安花园",
    "海桐苑",
    "东城一居委",
    "东城二居委",
    "东城三居委",
    "东城四居委",
    "钦洋一村",
    "培花二村",
    "芳华苑",
    "白杨公寓",
    "丁香国际公寓",
    "仁恒森兰雅苑",
    "牡丹新村",
    "梅园三村",
    "锦和花园",
];

const NAME_PREFIXES: &[&str] = &[
    "联洋", "锦绣", "钦洋", "花木", "东城", "培花", "芳华", "梅园", "牡丹", "玉兰", "紫薇", "银杏",
    "丁香", "白杨", "樱花", "锦华", "明月", "翠竹", "御景", "海桐", "香樟", "碧云", "世纪", "东方",
    "龙阳", "芳甸", "锦和", "杨高", "梅花", "紫竹", "云间", "合欢",
];

const NAME_SUFFIXES: &[&str] = &[
    "苑", "新苑", "新村", "花园", "公寓", "家园", "名邸", "雅苑", "华庭", "小区", "名苑", "丽苑",
    "佳苑", "一村", "二村", "三村", "大厦",
];

const SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤施倪俞";

const MALE_GIVEN: &str = "伟强磊军勇杰涛斌超明辉刚健平鹏华飞波宇浩俊峰建国志文亮龙海东晨博轩宏成林新德永立春家子昊然睿泽恒";

const FEMALE_GIVEN: &str =
    "芳娜敏静丽艳娟霞秀玲燕萍红婷雪琳洁慧颖倩梅莉琴云佳欣怡萱晴蓉丹雨桐涵诗琪月华英凤兰妍";

const PHONE_PREFIXES: &[u32] = &[
    130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 145, 147, 150, 151, 152, 153, 155, 156, 157,
    158, 159, 166, 170, 173, 175, 176, 177, 178, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189,
    191, 198, 199,
];

/// Shanghai districts other than Pudong (310115), including pre-merger
/// codes still printed on older IDs (卢湾 310103, 闸北 310108, 南汇 310225).
const SHANGHAI_CODES: &[u32] = &[
    310101, 310103, 310104, 310105, 310106, 310107, 310108, 310109, 310110, 310112, 310113, 310114,
    310116, 310117, 310118, 310120, 310225, 310230,
];

struct Province {
    name: &'static str,
    short: &'static str,
    /// Relative odds as a returnee's origin.
    weight: u32,
    codes: &'static [u32],
}

/// Index of 湖北 in [`PROVINCES`].
const HUBEI: usize = 0;

static PROVINCES: &[Province] = &[
    Province {
        name: "湖北省",
        short: "湖北",
        weight: 10,
        codes: &[
            420106, 420102, 420103, 420111, 420902, 421102, 420502, 420602,
        ],
    },
    Province {
        name: "浙江省",
        short: "浙江",
        weight: 14,
        codes: &[330106, 330102, 330203, 330302, 330402, 330602, 331002],
    },
    Province {
        name: "江苏省",
        short: "江苏",
        weight: 16,
        codes: &[
            320102, 320106, 320508, 320213, 320402, 320602, 321002, 320902,
        ],
    },
    Province {
        name: "安徽省",
        short: "安徽",
        weight: 14,
        codes: &[340102, 340104, 340202, 340302, 341202, 340822, 341502],
    },
    Province {
        name: "河南省",
        short: "河南",
        weight: 8,
        codes: &[410102, 410105, 410302, 411502, 411302, 411602, 411402],
    },
    Province {
        name: "江西省",
        short: "江西",
        weight: 6,
        codes: &[360102, 360111, 360402, 361102, 360702],
    },
    Province {
        name: "湖南省",
        short: "湖南",
        weight: 5,
        codes: &[430102, 430104, 430602, 430202, 430302, 431002],
    },
    Province {
        name: "四川省",
        short: "四川",
        weight: 5,
        codes: &[510104, 510107, 510302, 511302, 510703],
    },
    Province {
        name: "广东省",
        short: "广东",
        weight: 4,
        codes: &[440106, 440104, 440304, 440305, 440604, 441302],
    },
    Province {
        name: "山东省",
        short: "山东",
        weight: 5,
        codes: &[370102, 370202, 370602, 370702, 371302],
    },
    Province {
        name: "黑龙江省",
        short: "黑龙江",
        weight: 3,
        codes: &[230102, 230103, 230202, 230602],
    },
    Province {
        name: "北京市",
        short: "北京",
        weight: 3,
        codes: &[110101, 110105, 110108, 110102],
    },
    Province {
        name: "福建省",
        short: "福建",
        weight: 3,
        codes: &[350102, 350203, 350502, 350302],
    },
    Province {
        name: "河北省",
        short: "河北",
        weight: 2,
        codes: &[130102, 130202, 130602, 130402],
    },
    Province {
        name: "重庆市",
        short: "重庆",
        weight: 2,
        codes: &[500103, 500101, 500112, 500105],
    },
    Province {
        name: "辽宁省",
        short: "辽宁",
        weight: 2,
        codes: &[210102, 210202, 210302],
    },
    Province {
        name: "吉林省",
        short: "吉林",
        weight: 1,
        codes: &[220102, 220202],
    },
    Province {
        name: "山西省",
        short: "山西",
        weight: 1,
        codes: &[140105, 140106, 140202],
    },
    Province {
        name: "陕西省",
        short: "陕西",
        weight: 1,
        codes: &[610102, 610113],
    },
    Province {
        name: "广西壮族自治区",
        short: "广西",
        weight: 1,
        codes: &[450102, 450103, 450202],
    },
    Province {
        name: "云南省",
        short: "云南",
        weight: 1,
        codes: &[530102, 530103],
    },
    Province {
        name: "贵州省",
        short: "贵州",
        weight: 1,
        codes: &[520102, 520103],
    },
    Province {
        name: "甘肃省",
        short: "甘肃",
        weight: 1,
        codes: &[620102, 620103],
    },
    Province {
        name: "天津市",
        short: "天津",
        weight: 1,
        codes: &[120101, 120102],
    },
    Province {
        name: "内蒙古自治区",
        short: "内蒙古",
        weight: 1,
        codes: &[150102, 150202],
    },
    Province {
        name: "海南省",
        short: "海南",
        weight: 2,
        codes: &[460105, 460106],
    },
    Province {
        name: "新疆维吾尔自治区",
        short: "新疆",
        weight: 1,
        codes: &[650102],
    },
    Province {
        name: "宁夏回族自治区",
        short: "宁夏",
        weight: 1,
        codes: &[640104],
    },
    Province {
        name: "青海省",
        short: "青海",
        weight: 1,
        codes: &[630102],
    },
];

#[derive(Clone, Copy)]
enum NameStyle {
    Western,
    German,
    French,
    Japanese,
    Korean,
    Malay,
}

impl NameStyle {
    fn family_first(self) -> bool {
        matches!(
            self,
            NameStyle::Japanese | NameStyle::Korean | NameStyle::Malay
        )
    }

    fn families(self) -> &'static [&'static str] {
        match self {
            NameStyle::Western => &[
                "Smith", "Johnson", "Brown", "Miller", "Davis", "Wilson", "Taylor", "Anderson",
                "Clark", "Walker", "Hall", "Young", "King", "Wright", "Scott", "Green", "Baker",
                "Adams", "Nelson", "Carter", "Evans", "Turner", "Parker", "Collins",
            ],
            NameStyle::German => &[
                "Mueller",
                "Schmidt",
                "Schneider",
                "Fischer",
                "Weber",
                "Meyer",
                "Wagner",
                "Becker",
                "Schulz",
                "Hoffmann",
                "Koch",
                "Richter",
            ],
            NameStyle::French => &[
                "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
                "Leroy", "Moreau", "Simon", "Laurent",
            ],
            NameStyle::Japanese => &[
                "Sato",
                "Suzuki",
                "Takahashi",
                "Tanaka",
                "Watanabe",
                "Ito",
                "Yamamoto",
                "Nakamura",
                "Kobayashi",
                "Kato",
                "Yoshida",
                "Yamada",
                "Sasaki",
                "Matsumoto",
            ],
            NameStyle::Korean => &[
                "Kim", "Lee", "Park", "Choi", "Jung", "Kang", "Cho", "Yoon", "Jang", "Lim", "Han",
                "Shin",
            ],
            NameStyle::Malay => &[
                "Tan", "Lim", "Lee", "Ng", "Wong", "Goh", "Chua", "Chan", "Teo", "Ong", "Koh",
                "Low",
            ],
        }
    }

    fn given(self, male: bool) -> &'static [&'static str] {
        match (self, male) {
            (NameStyle::Western, true) => &[
                "James", "John", "Robert", "Michael", "David", "William", "Richard", "Thomas",
                "Daniel", "Matthew", "Andrew", "Peter", "Mark", "Paul", "Ryan", "Kevin",
            ],
            (NameStyle::Western, false) => &[
                "Mary",
                "Jennifer",
                "Linda",
                "Elizabeth",
                "Susan",
                "Jessica",
                "Sarah",
                "Karen",
                "Emily",
                "Emma",
                "Olivia",
                "Anna",
                "Laura",
                "Rachel",
                "Amy",
                "Grace",
            ],
            (NameStyle::German, true) => &[
                "Lukas",
                "Jonas",
                "Felix",
                "Maximilian",
                "Stefan",
                "Thomas",
                "Andreas",
                "Michael",
                "Florian",
                "Tobias",
            ],
            (NameStyle::German, false) => &[
                "Anna",
                "Julia",
                "Katharina",
                "Lena",
                "Sabine",
                "Petra",
                "Laura",
                "Hannah",
                "Claudia",
                "Sophie",
            ],
            (NameStyle::French, true) => &[
                "Pierre", "Jean", "Louis", "Nicolas", "Julien", "Antoine", "Thomas", "Hugo",
                "Lucas", "Olivier",
            ],
            (NameStyle::French, false) => &[
                "Marie", "Camille", "Chloe", "Julie", "Claire", "Sophie", "Manon", "Lea", "Celine",
                "Isabelle",
            ],
            (NameStyle::Japanese, true) => &[
                "Hiroshi", "Takeshi", "Kenji", "Daisuke", "Yuto", "Haruto", "Shota", "Kazuki",
                "Ryota", "Satoshi",
            ],
            (NameStyle::Japanese, false) => &[
                "Yuki", "Akiko", "Yoko", "Keiko", "Misaki", "Haruka", "Aoi", "Sakura", "Yui",
                "Naomi",
            ],
            (NameStyle::Korean, true) => &[
                "Minjun", "Seojun", "Jihoon", "Hyunwoo", "Dongwook", "Sungmin", "Jaehyun",
                "Youngho",
            ],
            (NameStyle::Korean, false) => &[
                "Jiyeon", "Seoyeon", "Minji", "Hyejin", "Soyoung", "Eunji", "Yuna", "Jisoo",
            ],
            (NameStyle::Malay, true) => &[
                "Wei Ming",
                "Jun Jie",
                "Kok Leong",
                "Boon Hock",
                "Zhi Hao",
                "Chee Keong",
                "Jia Hui",
            ],
            (NameStyle::Malay, false) => &[
                "Hui Ling", "Mei Ling", "Xin Yi", "Siew Lan", "Pei Shan", "Li Ting", "Shu Fen",
            ],
        }
    }
}

#[derive(Clone, Copy)]
enum PassportShape {
    Digits9,
    TwoLetters7,
    Letter8,
    German,
    French,
    Singapore,
}

struct Country {
    code: &'static str,
    weight: u32,
    style: NameStyle,
    passport: PassportShape,
}

static COUNTRIES: &[Country] = &[
    Country {
        code: "US",
        weight: 14,
        style: NameStyle::Western,
        passport: PassportShape::Digits9,
    },
    Country {
        code: "JP",
        weight: 16,
        style: NameStyle::Japanese,
        passport: PassportShape::TwoLetters7,
    },
    Country {
        code: "KR",
        weight: 15,
        style: NameStyle::Korean,
        passport: PassportShape::Letter8,
    },
    Country {
        code: "DE",
        weight: 8,
        style: NameStyle::German,
        passport: PassportShape::German,
    },
    Country {
        code: "FR",
        weight: 7,
        style: NameStyle::French,
        passport: PassportShape::French,
    },
    Country {
        code: "GB",
        weight: 6,
        style: NameStyle::Western,
        passport: PassportShape::Digits9,
    },
    Country {
        code: "SG",
        weight: 6,
        style: NameStyle::Malay,
        passport: PassportShape::Singapore,
    },
    Country {
        code: "MY",
        weight: 3,
        style: NameStyle::Malay,
        passport: PassportShape::Letter8,
    },
    Country {
        code: "CA",
        weight: 4,
        style: NameStyle::Western,
        passport: PassportShape::TwoLetters7,
    },
    Country {
        code: "AU",
        weight: 4,
        style: NameStyle::Western,
        passport: PassportShape::Letter8,
    },
    Country {
        code: "IT",
        weight: 3,
        style: NameStyle::Western,
        passport: PassportShape::TwoLetters7,
    },
    Country {
        code: "NL",
        weight: 2,
        style: NameStyle::Western,
        passport: PassportShape::TwoLetters7,
    },
    Country {
        code: "CH",
        weight: 1,
        style: NameStyle::German,
        passport: PassportShape::Letter8,
    },
    Country {
        code: "SE",
        weight: 1,
        style: NameStyle::Western,
        passport: PassportShape::Letter8,
    },
    Country {
        code: "NZ",
        weight: 1,
        style: NameStyle::Western,
        passport: PassportShape::TwoLetters7,
    },
    Country {
        code: "BE",
        weight: 1,
        style: NameStyle::French,
        passport: PassportShape::TwoLetters7,
    },
];

// ------------------------------------------------------------------ tests

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        parse_date(s).expect("date")
    }

    fn is_phone(p: &str) -> bool {
        p.is_empty()
            || (p.len() == 11
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.as_bytes()[0] == b'1'
                && (b'3'..=b'9').contains(&p.as_bytes()[1]))
    }

    fn valid_date(s: &str, hi: NaiveDate) -> bool {
        s.len() == 10 && parse_date(s).is_some_and(|x| x >= d("2000-01-01") && x <= hi)
    }

    /// Every rule of the ledger import, plus the generator's own promises.
    fn check(c: &CompoundLedger, today: NaiveDate) {
        let mut hh = HashMap::new();
        for (id, h) in &c.households {
            assert!(id.starts_with('H') && id.len() == 6, "{id}");
            assert!(hh.insert(id.as_str(), h).is_none(), "duplicate {id}");
            let b: u32 = h.building.parse().expect("building");
            let u: u32 = h.unit.parse().expect("unit");
            let r: u32 = h.room.parse().expect("room");
            assert!(
                (1..=60).contains(&b) && (1..=6).contains(&u) && r >= 101,
                "{h:?}"
            );
            assert!((1..=3).contains(&h.housing));
        }
        let mut pp = HashMap::new();
        let mut occupied = HashSet::new();
        for (id, p) in &c.persons {
            assert!(id.starts_with('P') && id.len() == 7, "{id}");
            assert!(pp.insert(id.as_str(), p).is_none(), "duplicate {id}");
            let h = hh.get(p.household_id.as_str()).expect("household exists");
            occupied.insert(p.household_id.as_str());
            assert_ne!(
                h.housing,
                pb::Housing::Vacant as i32,
                "person in vacant flat"
            );
            assert!(!p.name.is_empty());
            assert!(is_phone(&p.phone), "phone {:?}", p.phone);
            if p.nationality == "CN" {
                let id = &p.id_number;
                assert_eq!(id.len(), 18, "{id}");
                assert_eq!(
                    gb11643_check_char(&id[..17]),
                    id[17..].chars().next(),
                    "{id}"
                );
                assert!((b'1'..=b'6').contains(&id.as_bytes()[0]), "{id}");
                let year: i32 = id[6..10].parse().expect("year");
                assert!((1935..=2019).contains(&year), "{id}");
                let birth = NaiveDate::parse_from_str(&id[6..14], "%Y%m%d");
                assert!(birth.is_ok(), "{id}");
            } else {
                assert_eq!(p.nationality.len(), 2);
                assert!(p.nationality.bytes().all(|b| b.is_ascii_uppercase()));
                let n = &p.id_number;
                assert!(
                    (5..=20).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric()),
                    "{n}"
                );
                assert!(p.name.is_ascii());
            }
            if p.return_date.is_empty() {
                assert!(p.origin.is_empty());
            } else {
                assert!(valid_date(&p.return_date, today), "{}", p.return_date);
                assert!(!p.origin.is_empty());
            }
        }
        let mut gg = HashSet::new();
        for (id, x) in &c.isolations {
            assert!(id.starts_with('G') && id.len() == 6, "{id}");
            assert!(gg.insert(id.as_str()), "duplicate {id}");
            assert!(pp.contains_key(x.person_id.as_str()));
            assert!((1..=2).contains(&x.kind));
            assert!(valid_date(&x.start, today), "{}", x.start);
            if !x.release.is_empty() {
                assert!(valid_date(&x.release, today + chrono::Days::new(30)));
                assert!(x.release >= x.start);
            }
        }
    }

    #[test]
    fn deterministic_and_independent() {
        let spec = StreetSpec::demo(6);
        let a = street(&spec);
        let b = street(&spec);
        assert_eq!(a, b);
        assert_eq!(a.len(), 6);
        for (i, c) in a.iter().enumerate() {
            assert_eq!(&compound(&spec, i), c, "compound {i} alone");
        }
        let other = StreetSpec {
            seed: 7,
            ..spec.clone()
        };
        assert_ne!(compound(&other, 0), a[0]);

        // Byte-identical CSV.
        let dir = tempfile::tempdir().expect("tempdir");
        let p1 = a[2].write_csv(&dir.path().join("a")).expect("csv");
        let p2 = compound(&spec, 2)
            .write_csv(&dir.path().join("b"))
            .expect("csv");
        for (x, y) in p1.iter().zip(&p2) {
            assert_eq!(
                std::fs::read(x).expect("read"),
                std::fs::read(y).expect("read")
            );
        }
    }

    #[test]
    fn records_are_valid() {
        let spec = StreetSpec::demo(12);
        for c in street(&spec) {
            check(&c, spec.today);
        }
        // Early "today": dates still in range.
        let early = StreetSpec {
            today: d("2020-01-25"),
            ..StreetSpec::demo(2)
        };
        for c in street(&early) {
            check(&c, early.today);
        }
    }

    /// The day's ledgers: every record passes the record rule with the
    /// generator's today, refers to what exists, ids are unique and in id
    /// order, and the volumes look like a compound's month.
    fn check_days(c: &CompoundLedger, today: NaiveDate) {
        for rows in c.ledgers() {
            for i in 0..rows.n_rows() {
                let record = pb::Record {
                    compound: c.code.clone(),
                    id: rows.id(i).to_owned(),
                    stamp: 1 << 16,
                    origin: "gen".into(),
                    deleted: false,
                    body: Some(rows.body(i)),
                };
                if let Err(e) = lianfang_proto::validate::check_record(&record, today) {
                    panic!("{} {}: {e:?}", c.code, record.id);
                }
                if i > 0 {
                    assert!(
                        rows.id(i - 1) < rows.id(i),
                        "{:?}: ids in order",
                        rows.kind()
                    );
                }
            }
        }
        let hh: HashSet<&str> = c.households.iter().map(|(id, _)| id.as_str()).collect();
        let pp: HashSet<&str> = c.persons.iter().map(|(id, _)| id.as_str()).collect();
        for (_, x) in &c.health_checks {
            assert!(pp.contains(x.person_id.as_str()));
            assert!(valid_date(&x.date, today));
        }
        for (_, x) in &c.services {
            assert!(hh.contains(x.household_id.as_str()));
        }
        for (_, x) in &c.mask_reservations {
            assert!(x.household_id.is_empty() || hh.contains(x.household_id.as_str()));
            assert!(x.notified_on.is_empty() || valid_date(&x.notified_on, today));
            assert!(x.collected_on.is_empty() || valid_date(&x.collected_on, today));
        }
        for (_, x) in &c.surveys {
            assert!(x.person_id.is_empty() || pp.contains(x.person_id.as_str()));
        }
        for (_, x) in &c.hotline_tickets {
            assert!(x.closed.is_empty() || valid_date(&x.closed, today));
        }
        // The queue: ids in queue order (reserved_at, then id).
        for w in c.mask_reservations.windows(2) {
            assert!(w[0].1.reserved_at <= w[1].1.reserved_at, "{w:?}");
        }
    }

    #[test]
    fn day_ledgers_are_valid_and_lively() {
        let spec = StreetSpec::demo(8);
        let street = street(&spec);
        for c in &street {
            check_days(c, spec.today);
        }
        let today = fmt_date(spec.today);
        let sum = |f: &dyn Fn(&CompoundLedger) -> usize| street.iter().map(f).sum::<usize>();
        // Each home-isolated person today is checked twice, a few missed.
        let checks_today = sum(&|c| {
            c.health_checks
                .iter()
                .filter(|(_, x)| x.date == today)
                .count()
        });
        let home_today = sum(&|c| {
            let t = spec.today;
            c.isolations
                .iter()
                .filter(|(_, x)| {
                    let start = parse_date(&x.start).unwrap();
                    let end = parse_date(&x.release).unwrap_or(start + chrono::Days::new(14));
                    x.kind == pb::IsolationKind::Home as i32 && start <= t && t < end
                })
                .count()
        });
        assert!(home_today > 20, "{home_today}");
        let share = checks_today as f64 / (2 * home_today) as f64;
        assert!((0.9..1.0).contains(&share), "{share}");
        let all_checks = sum(&|c| c.health_checks.len());
        let fevers = sum(&|c| {
            c.health_checks
                .iter()
                .filter(|(_, x)| x.temperature_tenths >= 373)
                .count()
        });
        assert!(
            fevers > 0 && fevers * 50 < all_checks,
            "{fevers} of {all_checks}"
        );
        // Masks: most notified, most of those collected, the latest waiting.
        let masks: Vec<&pb::MaskReservation> = street
            .iter()
            .flat_map(|c| c.mask_reservations.iter().map(|(_, m)| m))
            .collect();
        let notified = masks.iter().filter(|m| !m.notified_on.is_empty()).count();
        let collected = masks.iter().filter(|m| !m.collected_on.is_empty()).count();
        assert!(
            notified * 10 > masks.len() * 8,
            "{notified} of {}",
            masks.len()
        );
        assert!(collected * 10 > notified * 8, "{collected} of {notified}");
        assert!(
            masks
                .iter()
                .any(|m| m.reserved_at.starts_with(&today) && m.notified_on.is_empty())
        );
        let vehicles: Vec<&pb::VehicleCheck> = street
            .iter()
            .flat_map(|c| c.vehicle_checks.iter().map(|(_, v)| v))
            .collect();
        assert!(vehicles.iter().any(|v| v.plate.starts_with('鄂')));
        assert!(vehicles.iter().any(|v| v.plate.starts_with('苏')));
        assert!(
            vehicles
                .iter()
                .any(|v| v.action == pb::VehicleAction::TurnedBack as i32)
        );
        let open = sum(&|c| {
            c.hotline_tickets
                .iter()
                .filter(|(_, t)| t.closed.is_empty())
                .count()
        });
        assert!(open > 0 && open < sum(&|c| c.hotline_tickets.len()));
        for c in &street {
            let gates_today = c
                .gate_counts
                .iter()
                .filter(|(_, g)| g.date == today)
                .count();
            assert!((2..=4).contains(&gates_today), "{gates_today}");
            assert_eq!(c.gate_counts.len(), gates_today * DAYS_OF_WORK as usize);
            assert!((30..=60).contains(&c.disinfections.len()));
        }
        let surveys: Vec<&pb::Survey> = street
            .iter()
            .flat_map(|c| c.surveys.iter().map(|(_, v)| v))
            .collect();
        assert!(surveys.iter().any(|v| !v.person_id.is_empty()));
        assert!(
            surveys
                .iter()
                .any(|v| v.result == pb::AnswerResult::Unregistered as i32)
        );
        assert!(sum(&|c| c.services.len()) > home_today);
    }

    #[test]
    fn codes_and_names() {
        let names: HashSet<String> = (0..167).map(compound_name).collect();
        assert_eq!(names.len(), 167);
        assert_eq!(compound_code(0), "HM001");
        assert_eq!(compound_code(166), "HM167");
        let c = compound(&StreetSpec::demo(3), 2);
        assert_eq!(c.code, "HM003");
        assert_eq!(c.name, compound_name(2));
    }

    #[test]
    fn csv_and_xlsx_written() {
        use calamine::{Reader, Xlsx, open_workbook};
        let c = compound(&StreetSpec::demo(2), 1);
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = c.write_csv(dir.path()).expect("csv");
        assert_eq!(paths.len(), 11);
        for (path, (_, ledger)) in paths.iter().zip(Kind::with_ledger()) {
            assert!(path.ends_with(format!("{}.csv", ledger.name)), "{path:?}");
            let text = std::fs::read_to_string(path).expect("read");
            let header = text.lines().next().expect("header");
            assert_eq!(header, ledger.headers().join(","));
            let rows = c
                .ledgers()
                .into_iter()
                .find(|r| r.kind().ledger().is_some_and(|l| l.name == ledger.name));
            assert_eq!(
                csv::Reader::from_path(path).expect("csv").records().count(),
                rows.expect("a field per ledger").n_rows()
            );
        }
        let checks = std::fs::read_to_string(&paths[3]).expect("read");
        assert!(
            checks.starts_with("监测编号,人员编号,日期,时段,体温,症状,测量人\n"),
            "{checks:.80}"
        );
        assert!(checks.contains(",上午,") && checks.contains(",下午,"));
        let persons = std::fs::read_to_string(&paths[1]).expect("read");
        assert!(
            persons
                .starts_with("人员编号,户编号,姓名,手机,证件号码,国籍,来源地,返沪日期,返沪登记\n")
        );
        assert_eq!(persons.lines().count(), c.persons.len() + 1);
        let households = std::fs::read_to_string(&paths[0]).expect("read");
        assert!(households.starts_with("户编号,楼号,单元,室号,房屋情况\n"));
        let iso = std::fs::read_to_string(&paths[2]).expect("read");
        assert!(iso.starts_with("隔离编号,人员编号,隔离方式,开始日期,解除日期\n"));
        assert_eq!(iso.lines().count(), c.isolations.len() + 1);

        let path = dir.path().join("ledger.xlsx");
        c.write_xlsx(&path).expect("xlsx");
        assert!(std::fs::metadata(&path).expect("meta").len() > 1000);
        let mut wb: Xlsx<_> = open_workbook(&path).expect("open");
        assert_eq!(
            wb.sheet_names(),
            Kind::with_ledger()
                .map(|(_, l)| l.name.to_owned())
                .collect::<Vec<_>>()
        );
        let masks = wb
            .worksheet_range("mask_reservations")
            .expect("mask_reservations");
        assert_eq!(masks.height(), c.mask_reservations.len() + 1);
        let sheet = wb.worksheet_range("persons").expect("persons");
        assert_eq!(sheet.height(), c.persons.len() + 1);
        let header: Vec<String> = sheet
            .rows()
            .next()
            .expect("header")
            .iter()
            .map(|x| x.to_string())
            .collect();
        assert_eq!(header, PERSON_HEADERS);
        let h = wb.worksheet_range("households").expect("households");
        assert_eq!(h.height(), c.households.len() + 1);
    }

    /// Ratios of a scaled street, and the full street's household total.
    #[test]
    fn street_proportions() {
        let full = StreetSpec::full_street();
        let households: usize = (0..full.compounds).map(|i| full.households_of(i)).sum();
        assert!((218_500..=241_500).contains(&households), "{households}");
        for i in 0..full.compounds {
            assert!((300..=2600).contains(&full.households_of(i)));
        }

        // Every 8th compound of the full street, generated for real.
        let t = std::time::Instant::now();
        let picked: Vec<CompoundLedger> = (0..full.compounds)
            .step_by(8)
            .map(|i| compound(&full, i))
            .collect();
        let h: usize = picked.iter().map(|c| c.households.len()).sum();
        let p: usize = picked.iter().map(|c| c.persons.len()).sum();
        let g: usize = picked.iter().map(|c| c.isolations.len()).sum();
        let per_h = p as f64 / h as f64;
        let per_p = g as f64 / p as f64;
        eprintln!(
            "sample: {h} households, {p} persons, {g} isolations in {:?}",
            t.elapsed()
        );
        assert!(
            (per_h - 540.0 / 230.0).abs() < 0.05 * 540.0 / 230.0,
            "{per_h}"
        );
        assert!((per_p - 0.075).abs() < 0.05 * 0.075 + 0.002, "{per_p}");

        let (mut ret, mut hubei, mut reg, mut foreign, mut central) = (0, 0, 0, 0, 0);
        let (mut vacant, mut rented) = (0, 0);
        for c in &picked {
            for (_, x) in &c.persons {
                if !x.return_date.is_empty() {
                    ret += 1;
                    hubei += usize::from(x.origin.starts_with("湖北"));
                    reg += usize::from(x.registered);
                }
                foreign += usize::from(x.nationality != "CN");
            }
            for (_, h) in &c.households {
                vacant += usize::from(h.housing == pb::Housing::Vacant as i32);
                rented += usize::from(h.housing == pb::Housing::Rented as i32);
            }
            central += c
                .isolations
                .iter()
                .filter(|(_, x)| x.kind == pb::IsolationKind::Central as i32)
                .count();
        }
        let f = |a: usize, b: usize| a as f64 / b as f64;
        eprintln!(
            "returnees {:.3}, hubei {:.3}, registered {:.3}, foreign {:.3}, central {:.3}, vacant {:.3}, rented {:.3}",
            f(ret, p),
            f(hubei, ret),
            f(reg, ret),
            f(foreign, p),
            f(central, g),
            f(vacant, h),
            f(rented, h)
        );
        assert!((0.27..0.33).contains(&f(ret, p)));
        assert!((0.06..0.10).contains(&f(hubei, ret)));
        assert!((0.87..0.93).contains(&f(reg, ret)));
        assert!((0.12..0.18).contains(&f(central, g)));
        assert!((0.06..0.10).contains(&f(vacant, h)));
        assert!((0.20..0.24).contains(&f(rented, h)));
    }

    /// The whole street, when the build is fast enough (release, or a quick
    /// debug machine): totals within ±5% of the targets.
    #[test]
    fn full_street_totals() {
        let t = std::time::Instant::now();
        let all = street(&StreetSpec::full_street());
        let elapsed = t.elapsed();
        let h: usize = all.iter().map(|c| c.households.len()).sum();
        let p: usize = all.iter().map(|c| c.persons.len()).sum();
        let g: usize = all.iter().map(|c| c.isolations.len()).sum();
        eprintln!("full_street: {h} households, {p} persons, {g} isolations in {elapsed:?}");
        let near = |x: usize, target: f64| (x as f64 - target).abs() <= 0.05 * target;
        assert_eq!(all.len(), 167);
        assert!(near(h, 230_000.0), "{h}");
        assert!(near(p, 540_000.0), "{p}");
        assert!(near(g, 40_000.0), "{g}");
        let mut total = 0;
        for (kind, ledger) in Kind::with_ledger() {
            let n: usize = all.iter().map(|c| c.n_of(kind)).sum();
            eprintln!("  {}: {n}", ledger.name);
            total += n;
        }
        eprintln!("  all: {total}");
        assert!(total > 1_000_000, "{total}");
    }

    #[test]
    fn edit_day_changes_and_appends() {
        let spec = StreetSpec::demo(3);
        let base = compound(&spec, 1);
        let day = d("2020-02-21");
        let mut a = base.clone();
        a.edit_day(9, 0.05, day);
        let mut b = base.clone();
        b.edit_day(9, 0.05, day);
        assert_eq!(a, b, "deterministic");
        let mut c = base.clone();
        c.edit_day(10, 0.05, day);
        assert_ne!(a, c);

        check(&a, day);
        assert!(a.persons.len() > base.persons.len());
        assert!(a.isolations.len() > base.isolations.len());
        assert_eq!(a.households.len(), base.households.len());
        // Old ids stay in place; new ids continue the sequence.
        for (old, new) in base.persons.iter().zip(&a.persons) {
            assert_eq!(old.0, new.0);
        }
        let next = make_id("P", base.persons.len() as u64 + 1, 6);
        assert_eq!(a.persons[base.persons.len()].0, next);
        let next = make_id("G", base.isolations.len() as u64 + 1, 5);
        assert_eq!(a.isolations[base.isolations.len()].0, next);

        let day_s = fmt_date(day);
        // The day's other ledgers: a day of work on `day`.
        check_days(&a, day);
        let dated = |c: &CompoundLedger| {
            c.bodies()
                .filter(|(_, _, b)| lianfang_proto::kinds::days(b)[0] == day_s)
                .count()
        };
        assert_eq!(dated(&base), 0);
        assert!(a.health_checks.iter().any(|(_, x)| x.date == day_s));
        assert!(a.gate_counts.iter().any(|(_, x)| x.date == day_s));
        assert!(dated(&a) > 20, "{}", dated(&a));
        let notified = base
            .mask_reservations
            .iter()
            .zip(&a.mask_reservations)
            .filter(|(o, n)| o != n && n.1.notified_on == day_s)
            .count();
        assert!(notified > 0, "the queue moves");
        let arrivals = a
            .persons
            .iter()
            .filter(|(_, p)| p.return_date == day_s)
            .count();
        assert!(arrivals > 0);
        assert!(a.isolations.iter().any(|(_, x)| x.start == day_s));
        let flipped = base
            .persons
            .iter()
            .zip(&a.persons)
            .filter(|(o, n)| !o.1.registered && n.1.registered)
            .count();
        assert!(flipped > 0);
        let housing = base
            .households
            .iter()
            .zip(&a.households)
            .filter(|(o, n)| o.1.housing != n.1.housing)
            .count();
        assert!(housing > 0);
        let changed = base
            .persons
            .iter()
            .zip(&a.persons)
            .filter(|(o, n)| o != n)
            .count()
            + base
                .households
                .iter()
                .zip(&a.households)
                .filter(|(o, n)| o != n)
                .count()
            + base
                .isolations
                .iter()
                .zip(&a.isolations)
                .filter(|(o, n)| o != n)
                .count()
            + (a.persons.len() - base.persons.len())
            + (a.isolations.len() - base.isolations.len());
        let total = base.persons.len() + base.households.len() + base.isolations.len();
        let share = changed as f64 / total as f64;
        assert!((0.03..0.08).contains(&share), "{share}");

        // A second day builds on the first.
        a.edit_day(9, 0.05, d("2020-02-22"));
        check(&a, d("2020-02-22"));
        let zero = {
            let mut z = base.clone();
            z.edit_day(1, 0.0, day);
            z
        };
        assert_eq!(zero, base);
    }
}
