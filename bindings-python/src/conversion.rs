//! The one place where Python values become engine JSON and engine answers become
//! Python values, without JSON text in Python between them.
//!
//! In: `dict`/`list`/`str`/`int`/`bool`/`None`, `Decimal` → decimal string, aware
//! `datetime` → RFC 3339, `date` → ISO day, `Money` → `{"amount", "currency"}`; a float
//! where an amount belongs is refused (`0.1 + 0.2` is not an amount), naming its path.
//! Out: by the results schema generated from the engine's types (the package's
//! `_results.schema.json`), compiled once into a [`Plan`]: money objects become `Money`,
//! instants aware `datetime`, days `date`, decimals `Decimal` — exactly where the schema
//! puts them, never by a key's name (a custom field keyed `due` stays the text it is).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

use crm_core::CrmError;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple, PyType};
use serde_json::{Map, Value};

use crate::errors;

/// The answers' schema, as the Python package ships it.
const RESULTS_SCHEMA: &str = include_str!("../python/crm_core/_results.schema.json");

/// How rust_decimal's schema writes a decimal the engine answers with.
const DECIMAL_PATTERN: &str = r"^-?\d+(\.\d+)?$";

// --- Out: the plan -------------------------------------------------------------------

/// What to do with one value of an answer.
#[derive(Debug)]
enum Conv {
    /// Nothing inside needs converting: the value becomes plain Python as it is.
    Plain,
    Instant,
    Day,
    Decimal,
    Money,
    Array(Box<Conv>),
    Object {
        properties: Properties,
        rest: Option<Box<Conv>>,
    },
    /// A union whose variants are told apart by a constant field (`{"type": ...}`).
    Tagged {
        field: String,
        variants: HashMap<String, Conv>,
    },
    /// A union of single-key objects told apart by which key is there (`{"decimal": ...}`).
    Keyed(HashMap<String, Conv>),
    /// A union told apart by the kind of JSON value (string, object, ...): the first
    /// branch of the value's kind.
    Shaped(Vec<(Vec<&'static str>, Conv)>),
    /// A definition, by its index in [`Plan::defs`] (how recursive types are reached).
    Def(usize),
}

/// The fields of an object that need converting, by name: a handful at most, so a
/// scan beats hashing every key of every answer.
#[derive(Debug, Default)]
struct Properties(Vec<(String, Conv)>);

impl Properties {
    fn get(&self, key: &str) -> Option<&Conv> {
        self.0
            .iter()
            .find_map(|(name, conv)| (name == key).then_some(conv))
    }

    fn values(&self) -> impl Iterator<Item = &Conv> {
        self.0.iter().map(|(_, conv)| conv)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds fields, a later plan for a name replacing the earlier one.
    fn extend(&mut self, more: Vec<(String, Conv)>) {
        for (key, conv) in more {
            match self.0.iter_mut().find(|(name, _)| *name == key) {
                Some(slot) => slot.1 = conv,
                None => self.0.push((key, conv)),
            }
        }
    }
}

impl FromIterator<(String, Conv)> for Properties {
    fn from_iter<I: IntoIterator<Item = (String, Conv)>>(items: I) -> Self {
        let mut properties = Properties::default();
        properties.extend(items.into_iter().collect());
        properties
    }
}

/// The answers' schema compiled: a [`Conv`] per entry point and per definition.
pub(crate) struct Plan {
    entries: HashMap<String, Conv>,
    defs: Vec<Conv>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("entries", &self.entries.len())
            .finish()
    }
}

/// The plan, compiled once per process; a packaged schema that cannot be read is an
/// error on every call that needs it, never a panic.
pub(crate) fn plan() -> Result<&'static Plan, String> {
    static PLAN: OnceLock<Result<Plan, String>> = OnceLock::new();
    PLAN.get_or_init(|| {
        let schema: Value = serde_json::from_str(RESULTS_SCHEMA)
            .map_err(|err| format!("the packaged results schema: {err}"))?;
        Compiler::new(&schema)?.plan(&schema)
    })
    .as_ref()
    .map_err(Clone::clone)
}

struct Compiler<'s> {
    defs: &'s Map<String, Value>,
    index: HashMap<&'s str, usize>,
}

impl<'s> Compiler<'s> {
    fn new(schema: &'s Value) -> Result<Self, String> {
        let defs = schema["$defs"]
            .as_object()
            .ok_or("the packaged results schema has no $defs")?;
        let index = defs
            .keys()
            .enumerate()
            .map(|(i, name)| (name.as_str(), i))
            .collect();
        Ok(Self { defs, index })
    }

    fn plan(&self, schema: &'s Value) -> Result<Plan, String> {
        let defs = self.defs.values().map(|def| self.compile(def)).collect();
        let entries = schema["properties"]
            .as_object()
            .ok_or("the packaged results schema has no properties")?
            .iter()
            .map(|(entry, answer)| (entry.clone(), self.compile(answer)))
            .collect();
        let mut plan = Plan { entries, defs };
        // A definition with nothing to convert is not visited at all.
        let plain: Vec<bool> = (0..plan.defs.len())
            .map(|index| plan.defs[index].is_plain_deep(&plan, &mut vec![index]))
            .collect();
        for (index, plain) in plain.into_iter().enumerate() {
            if plain {
                plan.defs[index] = Conv::Plain;
            }
        }
        Ok(plan)
    }

    fn reference(&self, schema: &Value) -> Option<&'s Value> {
        let name = schema.get("$ref")?.as_str()?.rsplit('/').next()?;
        self.defs.get(name)
    }

    fn compile(&self, schema: &Value) -> Conv {
        let Some(object) = schema.as_object() else {
            return Conv::Plain;
        };
        if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
            let name = reference.rsplit('/').next().unwrap_or_default();
            if name == "Money" {
                return Conv::Money;
            }
            let has_properties = object.contains_key("properties");
            if !has_properties {
                return self.index.get(name).map_or(Conv::Plain, |i| Conv::Def(*i));
            }
            // A tagged variant: the referenced type plus its tag field.
            let target = self.reference(schema).unwrap_or(&Value::Null);
            return merge(self.compile(target), self.object(object));
        }
        for union in ["oneOf", "anyOf"] {
            if let Some(branches) = object.get(union).and_then(Value::as_array) {
                let union = self.union(branches);
                return if object.contains_key("properties") {
                    merge(union, self.object(object))
                } else {
                    union
                };
            }
        }
        if let Some(parts) = object.get("allOf").and_then(Value::as_array) {
            return parts.iter().fold(self.object(object), |all, part| {
                merge(all, self.compile(part))
            });
        }
        let kinds = kinds(object);
        if kinds.contains(&"string") {
            match object.get("format").and_then(Value::as_str) {
                Some("date-time") => return Conv::Instant,
                Some("date") => return Conv::Day,
                _ => {}
            }
            if object.get("pattern").and_then(Value::as_str) == Some(DECIMAL_PATTERN) {
                return Conv::Decimal;
            }
        }
        if kinds.contains(&"array") || object.contains_key("items") {
            let items = object
                .get("items")
                .map_or(Conv::Plain, |items| self.compile(items));
            return if matches!(items, Conv::Plain) {
                Conv::Plain
            } else {
                Conv::Array(Box::new(items))
            };
        }
        self.object(object)
    }

    fn object(&self, object: &Map<String, Value>) -> Conv {
        let properties: Properties = object
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .map(|(key, rule)| (key.clone(), self.compile(rule)))
            .filter(|(_, conv)| !matches!(conv, Conv::Plain))
            .collect();
        let rest = object
            .get("additionalProperties")
            .filter(|rest| rest.is_object())
            .map(|rest| self.compile(rest))
            .filter(|conv| !matches!(conv, Conv::Plain));
        if properties.is_empty() && rest.is_none() {
            return Conv::Plain;
        }
        Conv::Object {
            properties,
            rest: rest.map(Box::new),
        }
    }

    fn union(&self, branches: &[Value]) -> Conv {
        let branches: Vec<&Value> = branches
            .iter()
            .filter(|branch| **branch != serde_json::json!({"type": "null"}))
            .collect();
        if let [only] = branches.as_slice() {
            return self.compile(only);
        }
        let convs: Vec<Conv> = branches.iter().map(|branch| self.compile(branch)).collect();
        if convs.iter().all(|conv| matches!(conv, Conv::Plain)) {
            return Conv::Plain;
        }
        let tags: Vec<Option<(String, String)>> =
            branches.iter().map(|branch| self.tag(branch)).collect();
        if let Some(Some((field, _))) = tags.first().cloned() {
            if tags
                .iter()
                .all(|tag| tag.as_ref().is_some_and(|(f, _)| *f == field))
            {
                let variants = tags
                    .into_iter()
                    .zip(convs)
                    .filter_map(|(tag, conv)| tag.map(|(_, value)| (value, conv)))
                    .collect();
                return Conv::Tagged { field, variants };
            }
        }
        let keys: Vec<Option<String>> = branches.iter().map(|branch| single_key(branch)).collect();
        if keys.iter().all(Option::is_some) {
            return Conv::Keyed(keys.into_iter().flatten().zip(convs).collect());
        }
        // Otherwise by the kind of JSON value each branch is (a name or an object).
        let shapes = branches
            .iter()
            .map(|branch| shape(branch, self))
            .collect::<Vec<_>>();
        Conv::Shaped(shapes.into_iter().zip(convs).collect())
    }

    /// The constant field that names a branch, looked for in it and in what it refers to.
    fn tag(&self, branch: &Value) -> Option<(String, String)> {
        let own = branch.get("properties").and_then(Value::as_object);
        let found = own.into_iter().flatten().find_map(|(key, rule)| {
            rule.get("const")?
                .as_str()
                .map(|value| (key.clone(), value.to_string()))
        });
        found.or_else(|| self.tag(self.reference(branch)?))
    }
}

impl Conv {
    /// Whether nothing reachable from here converts anything (`seen`: definitions on the
    /// way, so that recursion ends).
    fn is_plain_deep(&self, plan: &Plan, seen: &mut Vec<usize>) -> bool {
        match self {
            Conv::Plain => true,
            Conv::Def(index) => {
                if seen.contains(index) {
                    return true;
                }
                seen.push(*index);
                let plain = plan.defs[*index].is_plain_deep(plan, seen);
                seen.pop();
                plain
            }
            Conv::Array(items) => items.is_plain_deep(plan, seen),
            Conv::Object { properties, rest } => {
                properties
                    .values()
                    .all(|conv| conv.is_plain_deep(plan, seen))
                    && rest
                        .as_ref()
                        .is_none_or(|conv| conv.is_plain_deep(plan, seen))
            }
            Conv::Tagged { variants, .. } => variants.values().all(|c| c.is_plain_deep(plan, seen)),
            Conv::Keyed(variants) => variants.values().all(|c| c.is_plain_deep(plan, seen)),
            Conv::Shaped(branches) => branches.iter().all(|(_, c)| c.is_plain_deep(plan, seen)),
            Conv::Instant | Conv::Day | Conv::Decimal | Conv::Money => false,
        }
    }
}

/// Two plans for one value (a type and the fields beside it).
fn merge(a: Conv, b: Conv) -> Conv {
    match (a, b) {
        (Conv::Plain, other) | (other, Conv::Plain) => other,
        (
            Conv::Object {
                mut properties,
                rest,
            },
            Conv::Object {
                properties: more,
                rest: more_rest,
            },
        ) => {
            properties.extend(more.0);
            Conv::Object {
                properties,
                rest: rest.or(more_rest),
            }
        }
        (Conv::Tagged { field, variants }, Conv::Object { properties, .. }) => Conv::Tagged {
            field,
            variants: variants
                .into_iter()
                .map(|(tag, conv)| {
                    let common = Conv::Object {
                        properties: properties
                            .0
                            .iter()
                            .map(|(key, conv)| (key.clone(), conv.shallow_copy()))
                            .collect(),
                        rest: None,
                    };
                    (tag, merge(conv, common))
                })
                .collect(),
        },
        (a, _) => a,
    }
}

impl Conv {
    /// A copy of a leaf plan (the fields common to a union's variants are leaves or
    /// definitions in practice).
    fn shallow_copy(&self) -> Conv {
        match self {
            Conv::Instant => Conv::Instant,
            Conv::Day => Conv::Day,
            Conv::Decimal => Conv::Decimal,
            Conv::Money => Conv::Money,
            Conv::Def(index) => Conv::Def(*index),
            Conv::Array(items) => Conv::Array(Box::new(items.shallow_copy())),
            _ => Conv::Plain,
        }
    }
}

/// The JSON kinds a branch accepts (none known: any).
fn shape(branch: &Value, compiler: &Compiler<'_>) -> Vec<&'static str> {
    let branch = compiler.reference(branch).unwrap_or(branch);
    let Some(object) = branch.as_object() else {
        return Vec::new();
    };
    let mut found: Vec<&'static str> = kinds(object)
        .into_iter()
        .filter_map(|kind| {
            [
                "string", "object", "array", "integer", "number", "boolean", "null",
            ]
            .into_iter()
            .find(|known| *known == kind)
        })
        .collect();
    if found.is_empty() && object.contains_key("properties") {
        found.push("object");
    }
    found
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(number) if number.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn kinds(object: &Map<String, Value>) -> Vec<&str> {
    match object.get("type") {
        Some(Value::String(kind)) => vec![kind.as_str()],
        Some(Value::Array(kinds)) => kinds.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn single_key(branch: &Value) -> Option<String> {
    let required = branch.get("required")?.as_array()?;
    match required.as_slice() {
        [Value::String(key)] if branch.get("additionalProperties") == Some(&Value::Bool(false)) => {
            Some(key.clone())
        }
        _ => None,
    }
}

// --- Out: building Python values ---------------------------------------------------------

/// The Python classes an answer is made of, imported once.
struct Classes {
    decimal: PyOnceLock<Py<PyType>>,
    datetime: PyOnceLock<Py<PyType>>,
    date: PyOnceLock<Py<PyType>>,
    money: PyOnceLock<Py<PyType>>,
    mapping: PyOnceLock<Py<PyType>>,
    fromisoformat: PyOnceLock<Py<PyAny>>,
}

static CLASSES: Classes = Classes {
    decimal: PyOnceLock::new(),
    datetime: PyOnceLock::new(),
    date: PyOnceLock::new(),
    money: PyOnceLock::new(),
    mapping: PyOnceLock::new(),
    fromisoformat: PyOnceLock::new(),
};

fn decimal_class(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    CLASSES.decimal.import(py, "decimal", "Decimal")
}
fn datetime_class(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    CLASSES.datetime.import(py, "datetime", "datetime")
}
fn date_class(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    CLASSES.date.import(py, "datetime", "date")
}
fn money_class(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    CLASSES.money.import(py, "crm_core._convert", "Money")
}
fn mapping_class(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    CLASSES.mapping.import(py, "collections.abc", "Mapping")
}

/// How many distinct keys [`key_of`] keeps: field names are a few hundred; keys that are
/// data (custom field names, IDs in a report's columns) stop being kept past this.
const KEPT_KEYS: usize = 4096;

/// An answer's key as a Python string, the same object each time: answers repeat the
/// same field names, and a kept string is neither decoded nor hashed again.
fn key_of<'py>(py: Python<'py>, key: &str) -> Bound<'py, PyString> {
    static KEYS: PyOnceLock<Mutex<KeptKeys>> = PyOnceLock::new();
    let keys = KEYS.get_or_init(py, Mutex::default);
    let mut keys = keys.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(kept) = keys.get(key) {
        return kept.bind(py).clone();
    }
    if keys.len() >= KEPT_KEYS {
        // Not interned: some Pythons keep interned strings for the life of the process.
        return PyString::new(py, key);
    }
    let kept = PyString::intern(py, key);
    keys.insert(key.into(), kept.clone().unbind());
    kept
}

/// FNV-1a: the keys are short and at most [`KEPT_KEYS`] are kept (no flooding to fear),
/// so a simple hash beats SipHash here.
#[derive(Default)]
struct FnvHasher(u64);

impl std::hash::Hasher for FnvHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for byte in bytes {
            hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
}

type Fnv = std::hash::BuildHasherDefault<FnvHasher>;

type KeptKeys = HashMap<Box<str>, Py<PyString>, Fnv>;

/// The text and the `datetime` of the last instant an answer held.
type LastInstant = Option<(String, Py<PyAny>)>;

/// A `Money` made as its tuple directly: a NamedTuple's own `__new__` is a Python
/// function that does only this, at twice the cost.
fn money_of<'py>(
    py: Python<'py>,
    amount: Bound<'py, PyAny>,
    currency: &str,
) -> PyResult<Bound<'py, PyAny>> {
    static TUPLE_NEW: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let tuple_new = TUPLE_NEW.get_or_try_init(py, || {
        py.get_type::<PyTuple>()
            .getattr("__new__")
            .map(Bound::unbind)
    })?;
    let fields = PyTuple::new(py, [amount, PyString::new(py, currency).into_any()])?;
    tuple_new.bind(py).call1((money_class(py)?, fields))
}

/// An instant the engine wrote (RFC 3339 in UTC, `…Z`) as an aware `datetime`. The last
/// one made is kept and given again for the same text (a `datetime` is immutable): one
/// command's events, records and stamps mostly carry the same `now`.
fn instant_of<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    static LAST: PyOnceLock<Mutex<LastInstant>> = PyOnceLock::new();
    let last = LAST.get_or_init(py, Mutex::default);
    let mut last = last.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((kept, instant)) = last.as_ref() {
        if kept == text {
            return Ok(instant.bind(py).clone());
        }
    }
    let instant = parse_instant(py, text)?;
    *last = Some((text.to_string(), instant.clone().unbind()));
    Ok(instant)
}

fn parse_instant<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    let parse = CLASSES
        .fromisoformat
        .get_or_try_init(py, || {
            datetime_class(py)?
                .getattr("fromisoformat")
                .map(Bound::unbind)
        })?
        .bind(py);
    // `fromisoformat` reads a `Z` from Python 3.11 on.
    match text.strip_suffix('Z') {
        Some(head) if py.version_info() < (3, 11) => parse.call1((format!("{head}+00:00"),)),
        _ => parse.call1((text,)),
    }
}

/// An answer of the engine given as JSON text, as [`answer`] makes it.
pub(crate) fn answer_text<'py>(
    py: Python<'py>,
    entry: &str,
    text: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let value: Value = serde_json::from_str(text)
        .map_err(|err| PyTypeError::new_err(format!("the engine's answer: {err}")))?;
    answer(py, entry, &value)
}

/// An answer of the engine as Python values, typed by its entry point's plan
/// (`outcome`, `events`, `effects`, `query.<type>`; plain without one).
pub(crate) fn answer<'py>(
    py: Python<'py>,
    entry: &str,
    value: &Value,
) -> PyResult<Bound<'py, PyAny>> {
    let plan = plan().map_err(PyTypeError::new_err)?;
    let conv = plan.entries.get(entry).unwrap_or(&Conv::Plain);
    typed(py, value, conv, plan)
}

fn typed<'py>(
    py: Python<'py>,
    value: &Value,
    conv: &Conv,
    plan: &Plan,
) -> PyResult<Bound<'py, PyAny>> {
    match (conv, value) {
        (_, Value::Null) | (Conv::Plain, _) => plain(py, value),
        (Conv::Def(index), _) => typed(py, value, &plan.defs[*index], plan),
        (Conv::Instant, Value::String(text)) => instant_of(py, text),
        (Conv::Day, Value::String(text)) => date_class(py)?.call_method1("fromisoformat", (text,)),
        (Conv::Decimal, Value::String(text)) => decimal_class(py)?.call1((text,)),
        (Conv::Money, Value::Object(money)) => match (&money.get("amount"), &money.get("currency"))
        {
            (Some(Value::String(amount)), Some(Value::String(currency))) => {
                let amount = decimal_class(py)?.call1((amount,))?;
                money_of(py, amount, currency)
            }
            _ => plain(py, value),
        },
        (Conv::Array(items), Value::Array(values)) => {
            let list = PyList::empty(py);
            for item in values {
                list.append(typed(py, item, items, plan)?)?;
            }
            Ok(list.into_any())
        }
        (Conv::Object { properties, rest }, Value::Object(fields)) => {
            let dict = PyDict::new(py);
            for (key, item) in fields {
                let conv = properties
                    .get(key)
                    .or(rest.as_deref())
                    .unwrap_or(&Conv::Plain);
                dict.set_item(key_of(py, key), typed(py, item, conv, plan)?)?;
            }
            Ok(dict.into_any())
        }
        (Conv::Tagged { field, variants }, Value::Object(fields)) => {
            let variant = fields
                .get(field)
                .and_then(Value::as_str)
                .and_then(|tag| variants.get(tag));
            typed(py, value, variant.unwrap_or(&Conv::Plain), plan)
        }
        (Conv::Shaped(branches), _) => {
            let kind = kind_of(value);
            let branch = branches.iter().find(|(kinds, _)| {
                kinds.is_empty()
                    || kinds.contains(&kind)
                    || (kind == "integer" && kinds.contains(&"number"))
            });
            typed(
                py,
                value,
                branch.map_or(&Conv::Plain, |(_, conv)| conv),
                plan,
            )
        }
        (Conv::Keyed(variants), Value::Object(fields)) => {
            let variant = fields.keys().find_map(|key| variants.get(key));
            typed(py, value, variant.unwrap_or(&Conv::Plain), plan)
        }
        _ => plain(py, value),
    }
}

fn plain<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(flag) => PyBool::new(py, *flag).to_owned().into_any(),
        Value::Number(number) => {
            if let Some(whole) = number.as_i64() {
                whole.into_pyobject(py)?.into_any()
            } else if let Some(whole) = number.as_u64() {
                whole.into_pyobject(py)?.into_any()
            } else {
                PyFloat::new(py, number.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        Value::String(text) => PyString::new(py, text).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(plain(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(fields) => {
            let dict = PyDict::new(py);
            for (key, item) in fields {
                dict.set_item(key_of(py, key), plain(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

// --- In ------------------------------------------------------------------------------

/// Where a value is, made into text only when something is refused.
enum Path<'a> {
    Root(&'a str),
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root(name) => write!(f, "{name}"),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

fn refuse(py: Python<'_>, path: &Path<'_>, reason: String) -> PyErr {
    errors::to_py(py, CrmError::validation(path.to_string(), reason))
}

/// A Python value as the JSON the engine reads; `what` names it in a refusal.
pub(crate) fn json_of(value: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    let plain = to_json(value, &Path::Root(what))?;
    Ok(plain.to_string())
}

/// An aware `datetime` as RFC 3339; a naive one is refused, never guessed.
pub(crate) fn instant_text(value: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    instant(value, &Path::Root(what))
}

fn instant(value: &Bound<'_, PyAny>, path: &Path<'_>) -> PyResult<String> {
    let py = value.py();
    // One call answers both questions: a datetime's ISO form has a `T`, and an aware
    // one ends with its offset (`+02:00`, `-05:00`).
    let text: Option<String> = match value.call_method0("isoformat") {
        Ok(text) if value.is_instance(datetime_class(py)?)? => Some(text.extract()?),
        _ => None,
    };
    let Some(text) = text else {
        let shown = value.repr()?;
        return Err(refuse(
            py,
            path,
            format!("expected a datetime, got {shown}"),
        ));
    };
    let time = text.split_once('T').map_or("", |(_, time)| time);
    if !time.contains(['+', '-']) {
        return Err(refuse(
            py,
            path,
            format!("{text:?} has no time zone; pass an aware datetime").replace('"', "'"),
        ));
    }
    Ok(text)
}

fn to_json(value: &Bound<'_, PyAny>, path: &Path<'_>) -> PyResult<Value> {
    let py = value.py();
    if value.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(text) = value.cast::<PyString>() {
        return text_of(text, path).map(Value::String);
    }
    if let Ok(flag) = value.cast::<PyBool>() {
        return Ok(Value::Bool(flag.is_true()));
    }
    if let Ok(whole) = value.cast::<PyInt>() {
        return Ok(match whole.extract::<i64>() {
            Ok(small) => Value::from(small),
            Err(_) => Value::from(whole.extract::<u64>()?),
        });
    }
    if let Ok(dict) = value.cast::<PyDict>() {
        let mut fields = Map::with_capacity(dict.len());
        for (key, item) in dict.iter() {
            let key = text_of(&key.str()?, path)?;
            let item = to_json(&item, &Path::Key(path, &key))?;
            fields.insert(key, item);
        }
        return Ok(Value::Object(fields));
    }
    if value.is_instance(money_class(py)?)? {
        let amount = value.getattr("amount")?;
        let currency = value.getattr("currency")?;
        let amount = decimal_text(&amount, &Path::Key(path, "amount"))?;
        return Ok(
            serde_json::json!({"amount": amount, "currency": to_json(&currency, &Path::Key(path, "currency"))?}),
        );
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        return items_of(value, path);
    }
    if let Ok(float) = value.cast::<PyFloat>() {
        let number = float.value();
        return serde_json::Number::from_f64(number)
            .map(Value::Number)
            .ok_or_else(|| {
                let shown = value.repr().map(|r| r.to_string()).unwrap_or_default();
                refuse(py, path, format!("{shown} is not a number JSON can carry"))
            });
    }
    if value.is_instance(decimal_class(py)?)? {
        return decimal_text(value, path).map(Value::String);
    }
    if value.is_instance(datetime_class(py)?)? {
        return instant(value, path).map(Value::String);
    }
    if value.is_instance(date_class(py)?)? {
        return Ok(Value::String(value.call_method0("isoformat")?.extract()?));
    }
    if value.is_instance(mapping_class(py)?)? {
        let mut fields = Map::new();
        for item in value.call_method0("items")?.try_iter()? {
            let (key, item): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
            let key = text_of(&key.str()?, path)?;
            let item = to_json(&item, &Path::Key(path, &key))?;
            fields.insert(key, item);
        }
        return Ok(Value::Object(fields));
    }
    if value.hasattr("__iter__")? && !value.is_instance_of::<pyo3::types::PyBytes>() {
        return items_of(value, path);
    }
    let kind = value.get_type().name()?;
    Err(PyTypeError::new_err(format!(
        "cannot send {kind} to crm-core: {}",
        value.repr()?
    )))
}

/// A list, tuple, set or other iterable as a JSON array.
fn items_of(value: &Bound<'_, PyAny>, path: &Path<'_>) -> PyResult<Value> {
    value
        .try_iter()?
        .enumerate()
        .map(|(index, item)| to_json(&item?, &Path::Index(path, index)))
        .collect::<PyResult<Vec<_>>>()
        .map(Value::Array)
}

/// A Python string as UTF-8; one holding a lone surrogate (half of a UTF-16 pair,
/// which UTF-8 cannot hold) is refused as malformed, naming where it is.
fn text_of(text: &Bound<'_, PyString>, path: &Path<'_>) -> PyResult<String> {
    text.to_cow().map(|text| text.into_owned()).map_err(|_| {
        let refusal = CrmError::Malformed {
            path: path.to_string(),
            reason: "holds a lone surrogate (half of a UTF-16 pair) that text cannot hold".into(),
        };
        errors::to_py(text.py(), refusal)
    })
}

/// An exact decimal as text; a float (or NaN, infinity) is refused, naming the path.
fn decimal_text(value: &Bound<'_, PyAny>, path: &Path<'_>) -> PyResult<String> {
    let py = value.py();
    if value.is_instance_of::<PyBool>() {
        return Err(refuse(
            py,
            path,
            format!("expected a decimal, got {}", value.repr()?),
        ));
    }
    if value.is_instance_of::<PyFloat>() {
        return Err(refuse(
            py,
            path,
            format!(
                "{} is a float, which cannot hold an amount exactly; pass a Decimal or a string like \"12.50\"",
                value.repr()?
            ),
        ));
    }
    if value.is_instance(decimal_class(py)?)? {
        if !value.call_method0("is_finite")?.extract::<bool>()? {
            return Err(refuse(
                py,
                path,
                format!("{} is not a finite number", value.str()?),
            ));
        }
        return value.str()?.extract();
    }
    if value.is_instance_of::<PyInt>() || value.is_instance_of::<PyString>() {
        return value.str()?.extract();
    }
    let kind = value.get_type().name()?;
    Err(refuse(
        py,
        path,
        format!("expected a Decimal or a decimal string, got {kind}"),
    ))
}
