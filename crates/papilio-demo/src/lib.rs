//! The demo company 演示公司: 蝴蝶电器 Papilio Fans, a maker of electric fans and their motors.
//!
//! [`load`] fills an empty database with a believable manufacturer's master data: finished
//! fans, motor and head sub-assemblies, purchased parts and raw materials; warehouses with
//! bins; customers in groups with credit limits; suppliers; departments and employees; and one
//! user for each built-in role, all with the password [`DEMO_PASSWORD`]. The result depends
//! only on the seed and the scale; `scale` > 1 adds generated purchased parts and customers for
//! benchmarks. Each business area adds its own data (documents, history) here as it lands:
//! inventory adds stock reasons and a year of stock documents ([`history`]), approved through
//! the stock document types so the ledger is real; sales adds price lists, discount policies,
//! targets and a year of quotations, orders, deliveries, invoices and receipts ([`sales`]),
//! taken through the same store functions; `scale` N posts about N times as many.

pub mod history;
pub mod sales;

use std::collections::BTreeMap;

use papilio_core::access::BUILTIN_ROLES;
use papilio_core::entities;
use papilio_core::schema::{self, EntityDef, RawInput, Record};
use papilio_store::master;
use papilio_store::{Db, StoreError, users};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The password of every demo user.
pub const DEMO_PASSWORD: &str = "papilio-demo";

/// How much demo to load.
#[derive(Debug, Clone, Copy)]
pub struct DemoOptions {
    /// Seed of the generated parts of the data.
    pub seed: u64,
    /// 1 for the showroom company; larger adds generated items and customers.
    pub scale: u32,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions { seed: 42, scale: 1 }
    }
}

/// What was loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoSummary {
    /// Rows per entity kind, and under `stock_document` the stock documents of the history
    /// (sales deliveries and returns included).
    pub rows: BTreeMap<&'static str, u64>,
    /// Documents created per document type.
    pub documents: BTreeMap<&'static str, u64>,
    /// Demo user names with their roles.
    pub users: Vec<(String, String)>,
}

/// Why loading failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The database already holds items: the demo only goes into an empty company.
    #[error("the database already has items; load the demo into an empty database")]
    NotEmpty,
    /// A demo row broke a rule (a bug in the demo data).
    #[error("demo row for {kind} is invalid: {errors}")]
    Invalid {
        /// Entity.
        kind: &'static str,
        /// What broke.
        errors: String,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The demo's employees: code, name, department, title, and the built-in role whose demo user
/// they are (empty for none).
const EMPLOYEES: &[(&str, &str, &str, &str, &str)] = &[
    ("E001", "王建国", "MGMT", "总经理", "ceo"),
    ("E002", "李晓梅", "FIN", "财务总监", "cfo"),
    ("E003", "张伟", "SALES", "营销总裁", "vp_sales"),
    ("E004", "刘芳", "FIN", "财务经理", "finance_manager"),
    ("E005", "陈静", "FIN", "成本会计", "cost_accountant"),
    ("E006", "杨洋", "SALES", "销售经理", "sales_manager"),
    ("E007", "赵磊", "SALES", "销售员", "salesperson"),
    ("E008", "黄丽", "PLAN", "计划经理", "planning_manager"),
    ("E009", "周强", "ENG", "工程经理", "engineering_manager"),
    ("E010", "吴敏", "PURCH", "采购经理", "purchasing_manager"),
    ("E011", "徐杰", "PURCH", "采购员", "buyer"),
    ("E012", "孙涛", "WH", "仓库经理", "warehouse_manager"),
    ("E013", "马超", "WH", "仓管员", "warehouse_clerk"),
    ("E014", "朱明", "PROD", "生产经理", "production_manager"),
    ("E015", "胡琳", "SVC", "客服经理", "service_manager"),
    ("E016", "郭鹏", "SVC", "服务工程师", "service_engineer"),
    ("E017", "林小华", "SALES", "销售员", ""),
];

/// The demo's customers: code, Chinese and English names, group, currency, payment term,
/// credit limit (empty: the group's).
pub(crate) const CUSTOMERS: &[(&str, &str, &str, &str, &str, &str, &str)] = &[
    ("C001", "华南电器连锁", "South China Appliance Stores", "KA", "CNY", "NET60", "2000000"),
    ("C002", "苏宁易购", "Suning", "KA", "CNY", "NET60", "3000000"),
    ("C003", "佛山家电批发", "Foshan Appliance Wholesale", "DEALER", "CNY", "NET30", "500000"),
    ("C004", "东莞永盛贸易", "Dongguan Yongsheng Trading", "DEALER", "CNY", "NET30", "300000"),
    ("C005", "长沙湘江电器", "Changsha Xiangjiang Electric", "DEALER", "CNY", "NET30", "80000"),
    ("C006", "京东自营", "JD Retail", "ONLINE", "CNY", "NET30", "1500000"),
    ("C007", "天猫旗舰店", "Tmall flagship store", "ONLINE", "CNY", "PREPAY", ""),
    ("C008", "Cool Breeze Imports", "Cool Breeze Imports", "EXPORT", "USD", "NET60", "200000"),
    ("C009", "Ventilatori Milano", "Ventilatori Milano", "EXPORT", "EUR", "NET60", "150000"),
    ("C010", "成都蜀风电器", "Chengdu Shufeng Electric", "DEALER", "CNY", "COD", "100000"),
];

pub(crate) type Row = Vec<(&'static str, String)>;

/// An item of the showroom company: code, Chinese and English names, category, type, unit,
/// lead time, safety stock, reorder point, standard cost, default warehouse, lot tracked.
type ItemRow = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

pub(crate) fn row(pairs: &[(&'static str, &str)]) -> Row {
    pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
}

/// Every demo row, in an order that satisfies references.
fn plan(options: DemoOptions) -> Vec<(&'static EntityDef, Vec<Row>)> {
    let mut rng = StdRng::seed_from_u64(options.seed);
    let mut out: Vec<(&'static EntityDef, Vec<Row>)> = Vec::new();

    out.push((
        &entities::UNIT,
        [
            ("SET", "套", "Set", "0"),
            ("KG", "千克", "Kilogram", "3"),
            ("M", "米", "Metre", "2"),
            ("BOX", "盒", "Box", "0"),
            ("ROLL", "卷", "Roll", "0"),
        ]
        .iter()
        .map(|(c, z, e, d)| row(&[("code", c), ("name_zh", z), ("name_en", e), ("decimals", d)]))
        .collect(),
    ));
    out.push((
        &entities::STOCK_REASON,
        [
            ("SAMPLE", "样品", "Samples", "issue"),
            ("SCRAP", "报废", "Scrap", "issue"),
            ("FOUND", "盘盈", "Found in count", "receipt"),
            ("LOST", "盘亏", "Lost in count", "issue"),
            ("RD", "研发领用", "R&D use", "issue"),
            ("OPEN", "期初建账", "Opening balance", "receipt"),
            ("ADJ", "其他调整", "Other adjustment", "both"),
        ]
        .iter()
        .map(|(c, z, e, d)| row(&[("code", c), ("name_zh", z), ("name_en", e), ("direction", d)]))
        .collect(),
    ));
    out.push((
        &entities::PAYMENT_TERM,
        [
            ("NET30", "月结30天", "Net 30", "30"),
            ("NET60", "月结60天", "Net 60", "60"),
            ("COD", "货到付款", "Cash on delivery", "0"),
            ("PREPAY", "预付款", "Prepayment", "0"),
        ]
        .iter()
        .map(|(c, z, e, d)| row(&[("code", c), ("name_zh", z), ("name_en", e), ("days", d)]))
        .collect(),
    ));
    out.push((
        &entities::EXCHANGE_RATE,
        (1..=12)
            .flat_map(|m| {
                let usd = format!("7.{:02}", 5 + (m * 7) % 20);
                let eur = format!("7.{:02}", 70 + (m * 3) % 25);
                let date = format!("2026-{m:02}-01");
                [
                    row(&[("currency", "USD"), ("rate_date", &date), ("rate", &usd)]),
                    row(&[("currency", "EUR"), ("rate_date", &date), ("rate", &eur)]),
                ]
            })
            .collect(),
    ));
    out.push((
        &entities::DEPARTMENT,
        [
            ("MGMT", "总经办", "Management", ""),
            ("SALES", "销售部", "Sales", "MGMT"),
            ("PURCH", "采购部", "Purchasing", "MGMT"),
            ("WH", "仓储部", "Warehouse", "MGMT"),
            ("PROD", "生产部", "Production", "MGMT"),
            ("ENG", "工程部", "Engineering", "MGMT"),
            ("PLAN", "计划部", "Planning", "MGMT"),
            ("FIN", "财务部", "Finance", "MGMT"),
            ("SVC", "客服部", "Customer service", "MGMT"),
        ]
        .iter()
        .map(|(c, z, e, p)| row(&[("code", c), ("name_zh", z), ("name_en", e), ("parent", p)]))
        .collect(),
    ));
    out.push((
        &entities::ITEM_CATEGORY,
        [
            ("FG", "成品", "Finished goods", ""),
            ("FG-FLOOR", "落地扇", "Floor fans", "FG"),
            ("FG-DESK", "台扇", "Desk fans", "FG"),
            ("FG-CEIL", "吊扇", "Ceiling fans", "FG"),
            ("SUB", "半成品", "Sub-assemblies", ""),
            ("PART", "外购件", "Purchased parts", ""),
            ("ELEC", "电子电气件", "Electrical parts", "PART"),
            ("MECH", "机械件", "Mechanical parts", "PART"),
            ("RAW", "原材料", "Raw materials", ""),
            ("PKG", "包装材料", "Packaging", ""),
        ]
        .iter()
        .map(|(c, z, e, p)| row(&[("code", c), ("name_zh", z), ("name_en", e), ("parent", p)]))
        .collect(),
    ));
    out.push((
        &entities::WAREHOUSE,
        [
            ("RM", "原材料仓", "Raw material store", "1号厂房东侧", "false"),
            ("WIP", "车间线边仓", "Line-side store", "2号厂房", "true"),
            ("FG", "成品仓", "Finished goods store", "3号厂房", "false"),
            ("SUBC", "委外仓", "Subcontractor stock", "外协厂", "false"),
        ]
        .iter()
        .map(|(c, z, e, a, n)| {
            row(&[
                ("code", c),
                ("name_zh", z),
                ("name_en", e),
                ("address", a),
                ("allow_negative", n),
            ])
        })
        .collect(),
    ));
    let mut bins = Vec::new();
    for (wh, aisles, levels) in [("RM", 4, 5), ("FG", 3, 4), ("WIP", 1, 3)] {
        for aisle in 1..=aisles {
            for level in 1..=levels {
                let code = format!("{wh}-A{aisle:02}-{level:02}");
                let name = format!("{aisle}排{level}层");
                bins.push(row(&[("code", &code), ("warehouse", wh), ("name", &name)]));
            }
        }
    }
    out.push((&entities::BIN, bins));

    let items: &[ItemRow] = &[
        (
            "FAN-F16",
            "16寸落地扇",
            "16\" floor fan",
            "FG-FLOOR",
            "manufactured",
            "PCS",
            "5",
            "200",
            "400",
            "118.40",
            "FG",
            "false",
        ),
        (
            "FAN-F18",
            "18寸落地扇",
            "18\" floor fan",
            "FG-FLOOR",
            "manufactured",
            "PCS",
            "5",
            "150",
            "300",
            "139.80",
            "FG",
            "false",
        ),
        (
            "FAN-D12",
            "12寸台扇",
            "12\" desk fan",
            "FG-DESK",
            "manufactured",
            "PCS",
            "4",
            "300",
            "500",
            "72.60",
            "FG",
            "false",
        ),
        (
            "FAN-D10",
            "10寸台扇",
            "10\" desk fan",
            "FG-DESK",
            "manufactured",
            "PCS",
            "4",
            "100",
            "200",
            "61.30",
            "FG",
            "false",
        ),
        (
            "FAN-C52",
            "52寸吊扇",
            "52\" ceiling fan",
            "FG-CEIL",
            "manufactured",
            "PCS",
            "7",
            "60",
            "120",
            "286.00",
            "FG",
            "false",
        ),
        (
            "MOT-40W",
            "40W电机",
            "40 W motor",
            "SUB",
            "manufactured",
            "PCS",
            "3",
            "300",
            "600",
            "31.20",
            "WIP",
            "true",
        ),
        (
            "MOT-60W",
            "60W电机",
            "60 W motor",
            "SUB",
            "manufactured",
            "PCS",
            "3",
            "300",
            "600",
            "38.50",
            "WIP",
            "true",
        ),
        (
            "MOT-75W",
            "75W吊扇电机",
            "75 W ceiling motor",
            "SUB",
            "outsourced",
            "PCS",
            "10",
            "80",
            "160",
            "96.00",
            "WIP",
            "true",
        ),
        (
            "HEAD-16",
            "16寸机头组件",
            "16\" head assembly",
            "SUB",
            "manufactured",
            "PCS",
            "2",
            "0",
            "0",
            "52.10",
            "WIP",
            "false",
        ),
        (
            "BLADE-16",
            "16寸扇叶",
            "16\" blade",
            "SUB",
            "manufactured",
            "PCS",
            "2",
            "400",
            "800",
            "4.80",
            "WIP",
            "false",
        ),
        (
            "GRILL-16",
            "16寸网罩",
            "16\" grill",
            "SUB",
            "outsourced",
            "SET",
            "8",
            "300",
            "600",
            "9.60",
            "WIP",
            "false",
        ),
        (
            "BRG-608",
            "608轴承",
            "608 bearing",
            "MECH",
            "purchased",
            "PCS",
            "14",
            "2000",
            "4000",
            "1.35",
            "RM",
            "false",
        ),
        (
            "SHAFT-8",
            "8mm电机轴",
            "8 mm motor shaft",
            "MECH",
            "purchased",
            "PCS",
            "20",
            "1000",
            "2000",
            "2.20",
            "RM",
            "false",
        ),
        (
            "SCREW-M4",
            "M4螺钉",
            "M4 screw",
            "MECH",
            "purchased",
            "PCS",
            "7",
            "20000",
            "40000",
            "0.03",
            "RM",
            "false",
        ),
        (
            "CAP-2UF",
            "2μF启动电容",
            "2 µF start capacitor",
            "ELEC",
            "purchased",
            "PCS",
            "21",
            "1500",
            "3000",
            "1.10",
            "RM",
            "true",
        ),
        (
            "SWITCH-4",
            "四档开关",
            "4-speed switch",
            "ELEC",
            "purchased",
            "PCS",
            "21",
            "800",
            "1600",
            "3.40",
            "RM",
            "false",
        ),
        (
            "CORD-2M",
            "2米电源线",
            "2 m power cord",
            "ELEC",
            "purchased",
            "PCS",
            "14",
            "800",
            "1600",
            "4.70",
            "RM",
            "false",
        ),
        (
            "CU-WIRE",
            "漆包铜线",
            "Enamelled copper wire",
            "RAW",
            "purchased",
            "KG",
            "10",
            "300",
            "600",
            "78.00",
            "RM",
            "true",
        ),
        (
            "SI-STEEL",
            "硅钢片",
            "Silicon steel lamination",
            "RAW",
            "purchased",
            "KG",
            "30",
            "1000",
            "2000",
            "9.80",
            "RM",
            "true",
        ),
        (
            "PP-RESIN",
            "PP塑料粒子",
            "PP resin",
            "RAW",
            "purchased",
            "KG",
            "15",
            "2000",
            "4000",
            "11.20",
            "RM",
            "true",
        ),
        (
            "STEEL-WIRE",
            "镀锌钢丝",
            "Galvanised steel wire",
            "RAW",
            "purchased",
            "KG",
            "15",
            "500",
            "1000",
            "6.90",
            "RM",
            "false",
        ),
        (
            "CARTON-F16",
            "16寸落地扇纸箱",
            "Floor fan carton",
            "PKG",
            "purchased",
            "PCS",
            "7",
            "500",
            "1000",
            "3.80",
            "RM",
            "false",
        ),
        (
            "MANUAL",
            "说明书",
            "User manual",
            "PKG",
            "purchased",
            "PCS",
            "7",
            "1000",
            "2000",
            "0.45",
            "RM",
            "false",
        ),
        (
            "OLD-CAP-1UF",
            "1μF电容（停产）",
            "1 µF capacitor (discontinued)",
            "ELEC",
            "purchased",
            "PCS",
            "21",
            "0",
            "0",
            "0.90",
            "RM",
            "false",
        ),
    ];
    let mut item_rows: Vec<Row> = items
        .iter()
        .map(|(code, zh, en, cat, kind, unit, lead, safety, reorder, cost, wh, lot)| {
            let max = reorder.parse::<u32>().map(|r| (r * 3).to_string()).unwrap_or_default();
            let max = if max == "0" { String::new() } else { max };
            row(&[
                ("code", code),
                ("name_zh", zh),
                ("name_en", en),
                ("category", cat),
                ("item_type", kind),
                ("base_unit", unit),
                ("lead_time_days", lead),
                ("safety_stock", safety),
                ("reorder_point", reorder),
                ("max_stock", &max),
                ("standard_cost", cost),
                ("default_warehouse", wh),
                ("lot_tracked", lot),
                ("floor_price", sales::floor_price(code)),
                ("active", if *code == "OLD-CAP-1UF" { "false" } else { "true" }),
            ])
        })
        .collect();
    let generated_parts = u64::from(options.scale.saturating_sub(1)) * 1000;
    for n in 0..generated_parts {
        let cost = format!("{}.{:02}", rng.random_range(0..200), rng.random_range(0..100));
        let lead = rng.random_range(3..40).to_string();
        let cat = if n % 2 == 0 { "MECH" } else { "ELEC" };
        item_rows.push(row(&[
            ("code", &format!("P-{n:06}")),
            ("name_zh", &format!("通用零件{n}")),
            ("name_en", &format!("Generic part {n}")),
            ("category", cat),
            ("item_type", "purchased"),
            ("base_unit", "PCS"),
            ("lead_time_days", &lead),
            ("standard_cost", &cost),
            ("default_warehouse", "RM"),
        ]));
    }
    out.push((&entities::ITEM, item_rows));
    out.push((
        &entities::UNIT_CONVERSION,
        vec![
            row(&[
                ("item", "SCREW-M4"),
                ("from_unit", "BOX"),
                ("to_unit", "PCS"),
                ("factor", "500"),
            ]),
            row(&[("item", "CU-WIRE"), ("from_unit", "ROLL"), ("to_unit", "KG"), ("factor", "25")]),
            row(&[("item", "FAN-F16"), ("from_unit", "SET"), ("to_unit", "PCS"), ("factor", "2")]),
        ],
    ));

    out.push((
        &entities::CUSTOMER_GROUP,
        [
            ("KA", "重点客户", "Key accounts", "5000000"),
            ("DEALER", "经销商", "Dealers", "1000000"),
            ("ONLINE", "电商平台", "Online shops", "800000"),
            ("EXPORT", "出口客户", "Export", "2000000"),
        ]
        .iter()
        .map(|(c, z, e, l)| {
            row(&[
                ("code", c),
                ("name_zh", z),
                ("name_en", e),
                ("credit_limit", l),
                ("max_discount_pct", sales::max_discount_pct(c)),
            ])
        })
        .collect(),
    ));

    // Employees first (customers name their salesperson); their user names come later, so
    // the link to users is made after the users exist.
    let employees = EMPLOYEES;
    out.push((
        &entities::EMPLOYEE,
        employees
            .iter()
            .map(|(c, n, d, t, _)| {
                row(&[
                    ("code", c),
                    ("name", n),
                    ("department", d),
                    ("title", t),
                    ("order_amount_limit", sales::order_amount_limit(c)),
                ])
            })
            .collect(),
    ));

    let customers = CUSTOMERS;
    let mut customer_rows: Vec<Row> = customers
        .iter()
        .enumerate()
        .map(|(i, (c, z, e, g, cur, term, limit))| {
            let sales = if i % 2 == 0 { "E007" } else { "E017" };
            let email = format!("buyer@{}.example", c.to_lowercase());
            row(&[
                ("code", c),
                ("name_zh", z),
                ("name_en", e),
                ("customer_group", g),
                ("currency", cur),
                ("payment_term", term),
                ("credit_limit", limit),
                ("salesperson", sales),
                ("email", &email),
            ])
        })
        .collect();
    let generated_customers = u64::from(options.scale.saturating_sub(1)) * 100;
    for n in 0..generated_customers {
        let limit = (rng.random_range(1..50) * 10_000).to_string();
        customer_rows.push(row(&[
            ("code", &format!("CG{n:06}")),
            ("name_zh", &format!("经销商{n}")),
            ("name_en", &format!("Dealer {n}")),
            ("customer_group", "DEALER"),
            ("currency", "CNY"),
            ("payment_term", "NET30"),
            ("credit_limit", &limit),
        ]));
    }
    out.push((&entities::CUSTOMER, customer_rows));
    out.push((
        &entities::CUSTOMER_CONTACT,
        customers
            .iter()
            .enumerate()
            .map(|(i, (c, ..))| {
                let name = ["陈经理", "李采购", "王主管", "Ms. Green", "Sig. Rossi"][i % 5];
                let phone = format!("1380000{:04}", i * 37 + 11);
                row(&[("customer", c), ("name", name), ("title", "采购"), ("phone", &phone)])
            })
            .collect(),
    ));
    out.push((
        &entities::CUSTOMER_ADDRESS,
        customers
            .iter()
            .enumerate()
            .flat_map(|(i, (c, ..))| {
                let city = [
                    "广州",
                    "南京",
                    "佛山",
                    "东莞",
                    "长沙",
                    "北京",
                    "杭州",
                    "Los Angeles",
                    "Milano",
                    "成都",
                ][i % 10];
                let country = if i == 7 {
                    "US"
                } else if i == 8 {
                    "IT"
                } else {
                    "CN"
                };
                let line = format!("{city}市工业大道{}号", 10 + i * 3);
                [
                    row(&[
                        ("customer", c),
                        ("kind", "billing"),
                        ("line1", &line),
                        ("city", city),
                        ("country", country),
                    ]),
                    row(&[
                        ("customer", c),
                        ("kind", "shipping"),
                        ("line1", &format!("{line} 仓库")),
                        ("city", city),
                        ("country", country),
                    ]),
                ]
            })
            .collect(),
    ));

    let suppliers = [
        ("S001", "宁波精密轴承", "Ningbo Precision Bearings", "14"),
        ("S002", "江门电容器厂", "Jiangmen Capacitor Works", "21"),
        ("S003", "佛山铜材", "Foshan Copper", "10"),
        ("S004", "宝钢硅钢代理", "Baosteel Silicon Steel Agent", "30"),
        ("S005", "中山塑胶原料", "Zhongshan Plastics", "15"),
        ("S006", "顺德五金网罩厂", "Shunde Grill Metalworks", "8"),
        ("S007", "东莞包装印刷", "Dongguan Packaging & Print", "7"),
        ("S008", "温州开关电器", "Wenzhou Switchgear", "21"),
    ];
    out.push((
        &entities::SUPPLIER,
        suppliers
            .iter()
            .map(|(c, z, e, lead)| {
                row(&[
                    ("code", c),
                    ("name_zh", z),
                    ("name_en", e),
                    ("currency", "CNY"),
                    ("payment_term", "NET60"),
                    ("lead_time_days", lead),
                ])
            })
            .collect(),
    ));
    out.extend(sales::master_plan());
    out.push((
        &entities::SUPPLIER_CONTACT,
        suppliers
            .iter()
            .enumerate()
            .map(|(i, (c, ..))| {
                let phone = format!("0757-8800{:04}", i * 13 + 7);
                row(&[
                    ("supplier", c),
                    ("name", ["何经理", "冯业务", "邓主管", "曹销售"][i % 4]),
                    ("title", "销售"),
                    ("phone", &phone),
                ])
            })
            .collect(),
    ));
    out
}

async fn insert_all(db: &Db, def: &'static EntityDef, rows: &[Row]) -> Result<u64, DemoError> {
    let mut records: Vec<Record> = Vec::with_capacity(rows.len());
    for r in rows {
        let input: RawInput = r.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        let record = schema::validate(def, &input, false).map_err(|errors| DemoError::Invalid {
            kind: def.kind,
            errors: errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.rule))
                .collect::<Vec<_>>()
                .join(", "),
        })?;
        records.push(record);
    }
    let records = &records;
    db.write(|conn, _| {
        Box::pin(async move {
            for chunk in records.chunks(500) {
                for record in chunk {
                    master::insert_unchecked(conn, def, record).await?;
                }
            }
            Ok(())
        })
    })
    .await?;
    Ok(u64::try_from(rows.len()).unwrap_or(u64::MAX))
}

/// Loads the demo company into `db`, which must hold no items yet. `progress` hears the kind
/// being loaded and how many rows it has.
pub async fn load(
    db: &Db,
    options: DemoOptions,
    progress: &(dyn Fn(&str, u64) + Sync),
) -> Result<DemoSummary, DemoError> {
    let existing = master::list(
        db,
        &entities::ITEM,
        &master::ListQuery { page: 1, per_page: 1, ..Default::default() },
    )
    .await?;
    if existing.total > 0 {
        return Err(DemoError::NotEmpty);
    }
    let mut summary = DemoSummary::default();
    for (def, rows) in plan(options) {
        progress(def.kind, u64::try_from(rows.len()).unwrap_or(0));
        let n = insert_all(db, def, &rows).await?;
        summary.rows.insert(def.kind, n);
    }

    // One user per built-in role, linked to the employee who holds that role.
    let existing: Vec<String> =
        users::list_users(db).await?.into_iter().map(|u| u.username).collect();
    for role in BUILTIN_ROLES {
        let username = role.code.replace('_', ".");
        if existing.contains(&username) {
            continue;
        }
        let locale =
            if role.code == "vp_sales" || role.code == "cost_accountant" { "en" } else { "zh-CN" };
        let display = EMPLOYEES
            .iter()
            .find(|e| e.4 == role.code)
            .map_or_else(|| username.clone(), |e| e.1.to_owned());
        users::create_user(
            db,
            &username,
            &display,
            DEMO_PASSWORD,
            locale,
            &[role.code.to_owned()],
            None,
        )
        .await?;
        summary.users.push((username, role.code.to_owned()));
    }
    link_employees(db, &summary.users).await?;

    // A year of stock and sales documents, each entered and approved by whoever does it.
    let actors = sales::Actors::find(db).await?;
    let steps = history::plan(options.seed, options.scale);
    progress("document", u64::try_from(steps.len()).unwrap_or(0));
    let documents =
        sales::with_history_settings(db, history::load(db, &steps, &actors, progress)).await?;
    let stock_types: Vec<&str> = papilio_store::document_types()
        .iter()
        .filter(|t| t.area == "inventory")
        .map(|t| t.code)
        .collect();
    let stock_docs =
        documents.iter().filter(|(t, _)| stock_types.contains(t)).map(|(_, n)| *n).sum();
    summary.rows.insert("stock_document", stock_docs);
    summary.documents = documents;
    tracing::info!(
        items = summary.rows.get("item").copied().unwrap_or(0),
        users = summary.users.len(),
        "demo company loaded"
    );
    Ok(summary)
}

async fn link_employees(db: &Db, demo_users: &[(String, String)]) -> Result<(), DemoError> {
    for &(employee, _, _, _, role) in EMPLOYEES {
        let Some((username, _)) = demo_users.iter().find(|(_, r)| r == role) else { continue };
        let row = master::get_by_code(db, &entities::EMPLOYEE, employee).await?;
        let mut changes = Record::new();
        changes.insert("username", schema::Value::Text(username.clone()));
        let (id, version) = (row.id, row.version);
        let changes = &changes;
        db.write(|conn, _| {
            Box::pin(async move {
                master::update(conn, &entities::EMPLOYEE, id, version, changes, 0).await.map(|_| ())
            })
        })
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_is_valid_and_deterministic() {
        let a = plan(DemoOptions { seed: 7, scale: 2 });
        let b = plan(DemoOptions { seed: 7, scale: 2 });
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        for (def, rows) in &a {
            for r in rows {
                let input: RawInput = r.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
                assert!(schema::validate(def, &input, false).is_ok(), "{}: {r:?}", def.kind);
            }
        }
        let items = a.iter().find(|(d, _)| d.kind == "item").map(|(_, r)| r.len()).unwrap_or(0);
        assert!(items > 1000);
    }
}
