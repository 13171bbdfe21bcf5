//! Country names the data sets behind `build.rs` lack: the codes the
//! European Union uses where they differ from ISO 3166-1 (`EL` for Greece,
//! `UK` for the United Kingdom, as in VAT numbers; both are exceptionally
//! reserved in ISO 3166-1), common initialisms, and the constituent
//! countries and old names a support centre meets. Everything else comes
//! from the maintained data; rule files add their own names under
//! `normalize: { countries: … }`.
//!
//! This file is also compiled into the build script.

/// `(name, ISO 3166-1 alpha-2)`.
pub const COUNTRY_ALIASES: &[(&str, &str)] = &[
    // EU and ISO exceptionally reserved codes.
    ("EL", "GR"),
    ("UK", "GB"),
    ("FX", "FR"),
    // ISO 3166-1 official names the countries data set lacks.
    ("Republic of Bosnia and Herzegovina", "BA"),
    ("Republic of Guyana", "GY"),
    ("Republic of Iceland", "IS"),
    ("Republic of the Union of Myanmar", "MM"),
    ("Republic of Myanmar", "MM"),
    ("Rwandese Republic", "RW"),
    ("Republic of Rwanda", "RW"),
    ("Oriental Republic of Uruguay", "UY"),
    ("Eastern Republic of Uruguay", "UY"),
    // World Bank spellings the key cannot derive.
    ("Venezuela, RB", "VE"),
    ("Hong Kong SAR, China", "HK"),
    ("Macao SAR, China", "MO"),
    ("Hong Kong SAR", "HK"),
    ("Macao SAR", "MO"),
    ("West Bank and Gaza", "PS"),
    ("Taiwan, China", "TW"),
    // Initialisms.
    ("ABD", "US"),
    ("EUA", "US"),
    ("U.S.", "US"),
    ("U.S.A.", "US"),
    ("UAE", "AE"),
    ("KSA", "SA"),
    ("RSA", "ZA"),
    ("DRC", "CD"),
    ("DR Congo", "CD"),
    ("PRC", "CN"),
    ("ROK", "KR"),
    ("DPRK", "KP"),
    ("ROC", "TW"),
    ("BRD", "DE"),
    ("CAR", "CF"),
    ("PNG", "PG"),
    ("BiH", "BA"),
    // Constituent countries and other names in daily use.
    ("England", "GB"),
    ("Scotland", "GB"),
    ("Wales", "GB"),
    ("Northern Ireland", "GB"),
    ("Britain", "GB"),
    ("Holland", "NL"),
    ("America", "US"),
    ("Mainland China", "CN"),
    ("Bharat", "IN"),
    ("Aotearoa", "NZ"),
    ("Helvetia", "CH"),
    ("Confoederatio Helvetica", "CH"),
    ("Swiss Confederation", "CH"),
    ("Burma", "MM"),
    ("Swaziland", "SZ"),
    ("Macedonia", "MK"),
    ("Zaire", "CD"),
    ("Czechia", "CZ"),
    ("Republic of Ireland", "IE"),
    ("S. Korea", "KR"),
    ("N. Korea", "KP"),
    ("S. Africa", "ZA"),
    ("Kosovo", "XK"),
    ("Falklands", "FK"),
];
