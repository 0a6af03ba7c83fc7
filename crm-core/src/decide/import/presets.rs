//! The headers a record import recognises without a mapping: those of spreadsheets
//! kept by hand (English, German, Russian) and of the exports of amoCRM and Bitrix24
//! (Russian interface), per kind of record. docs/migration.md prints these tables.
//!
//! Headers are compared folded ([`fold_name`]: case, accents and punctuation aside), so
//! "E-mail", "e-mail" and "EMAIL" are one header.

use crate::common::normalize::fold_name;
use crate::model::import::{ImportKind, ImportPreset};

/// `(target, headers)`: the headers that mean the target.
type Aliases = &'static [(&'static str, &'static [&'static str])];

const SPREADSHEET_COMPANIES: Aliases = &[
    (
        "name",
        &[
            "name",
            "company",
            "company name",
            "organisation",
            "organization",
            "firma",
            "unternehmen",
            "название",
            "компания",
            "организация",
            "наименование",
        ],
    ),
    (
        "phone",
        &[
            "phone",
            "telephone",
            "tel",
            "phones",
            "telefon",
            "телефон",
            "телефоны",
        ],
    ),
    (
        "email",
        &[
            "email",
            "e-mail",
            "mail",
            "emails",
            "почта",
            "электронная почта",
        ],
    ),
    (
        "website",
        &[
            "website",
            "web",
            "site",
            "url",
            "webseite",
            "сайт",
            "веб-сайт",
        ],
    ),
    ("address", &["address", "adresse", "адрес"]),
    ("source", &["source", "quelle", "источник"]),
    ("tags", &["tags", "tag", "labels", "теги"]),
    (
        "owner",
        &[
            "owner",
            "responsible",
            "account owner",
            "verantwortlich",
            "ответственный",
        ],
    ),
    (
        "created_at",
        &[
            "created",
            "created at",
            "date created",
            "erstellt",
            "дата создания",
        ],
    ),
];

const SPREADSHEET_DEALS: Aliases = &[
    (
        "title",
        &[
            "title",
            "deal",
            "deal name",
            "name",
            "opportunity",
            "titel",
            "название",
            "сделка",
            "название сделки",
        ],
    ),
    (
        "amount",
        &[
            "amount",
            "value",
            "deal value",
            "budget",
            "sum",
            "betrag",
            "wert",
            "сумма",
            "бюджет",
        ],
    ),
    ("currency", &["currency", "währung", "валюта"]),
    ("pipeline", &["pipeline", "воронка"]),
    (
        "stage",
        &[
            "stage",
            "deal stage",
            "status",
            "phase",
            "этап",
            "стадия",
            "статус",
        ],
    ),
    (
        "owner",
        &[
            "owner",
            "deal owner",
            "responsible",
            "verantwortlich",
            "ответственный",
        ],
    ),
    (
        "contact",
        &["contact", "contact name", "person", "kontakt", "контакт"],
    ),
    (
        "company",
        &[
            "company",
            "organisation",
            "organization",
            "account",
            "firma",
            "unternehmen",
            "компания",
        ],
    ),
    ("source", &["source", "lead source", "quelle", "источник"]),
    ("tags", &["tags", "tag", "labels", "теги"]),
    (
        "expected_close",
        &[
            "expected close",
            "expected close date",
            "close date",
            "ожидаемая дата закрытия",
        ],
    ),
    (
        "lost_reason",
        &[
            "lost reason",
            "reason lost",
            "verlustgrund",
            "причина отказа",
            "причина проигрыша",
        ],
    ),
    (
        "created_at",
        &[
            "created",
            "created at",
            "date created",
            "erstellt",
            "дата создания",
        ],
    ),
    (
        "closed_at",
        &[
            "closed",
            "closed at",
            "date closed",
            "won date",
            "geschlossen",
            "дата закрытия",
        ],
    ),
];

const SPREADSHEET_TASKS: Aliases = &[
    (
        "title",
        &[
            "title",
            "task",
            "subject",
            "name",
            "aufgabe",
            "betreff",
            "задача",
            "название",
            "текст задачи",
        ],
    ),
    (
        "kind",
        &["kind", "type", "task type", "typ", "тип", "тип задачи"],
    ),
    (
        "description",
        &[
            "description",
            "details",
            "notes",
            "beschreibung",
            "описание",
        ],
    ),
    (
        "assignee",
        &[
            "assignee",
            "assigned to",
            "owner",
            "responsible",
            "verantwortlich",
            "ответственный",
            "исполнитель",
        ],
    ),
    (
        "due",
        &[
            "due",
            "due date",
            "deadline",
            "fällig",
            "fällig am",
            "срок",
            "крайний срок",
            "дата выполнения",
        ],
    ),
    (
        "status",
        &[
            "status",
            "state",
            "done",
            "completed",
            "статус",
            "выполнена",
        ],
    ),
    (
        "completed_at",
        &[
            "completed at",
            "date completed",
            "done at",
            "erledigt am",
            "дата завершения",
            "дата закрытия",
        ],
    ),
    ("deal", &["deal", "opportunity", "сделка"]),
    ("contact", &["contact", "kontakt", "контакт"]),
    ("company", &["company", "firma", "компания"]),
    (
        "created_at",
        &[
            "created",
            "created at",
            "date created",
            "erstellt",
            "дата создания",
        ],
    ),
];

const SPREADSHEET_ACTIVITIES: Aliases = &[
    (
        "kind",
        &["kind", "type", "activity type", "typ", "тип", "тип события"],
    ),
    ("subject", &["subject", "title", "betreff", "тема"]),
    (
        "body",
        &[
            "body",
            "text",
            "note",
            "notes",
            "content",
            "notiz",
            "текст",
            "примечание",
            "комментарий",
        ],
    ),
    (
        "author",
        &[
            "author",
            "user",
            "by",
            "created by",
            "autor",
            "автор",
            "кем создано",
        ],
    ),
    (
        "at",
        &[
            "date",
            "at",
            "time",
            "occurred at",
            "datum",
            "дата",
            "дата и время",
        ],
    ),
    ("direction", &["direction", "richtung", "направление"]),
    (
        "duration",
        &["duration", "duration seconds", "dauer", "длительность"],
    ),
    ("outcome", &["outcome", "result", "ergebnis", "результат"]),
    ("deal", &["deal", "opportunity", "сделка"]),
    ("contact", &["contact", "kontakt", "контакт"]),
    ("company", &["company", "firma", "компания"]),
];

/// amoCRM's export of companies ("Компании" → "Экспорт").
const AMOCRM_COMPANIES: Aliases = &[
    ("name", &["Название компании", "Наименование"]),
    (
        "phone",
        &[
            "Рабочий телефон",
            "Рабочий прямой телефон",
            "Мобильный телефон",
            "Другой телефон",
        ],
    ),
    ("email", &["Рабочий email", "Личный email", "Другой email"]),
    ("website", &["Web"]),
    ("owner", &["Ответственный"]),
    ("tags", &["Теги"]),
    ("created_at", &["Дата создания"]),
    (
        "ignore",
        &[
            "ID",
            "Кем создана",
            "Кем создан",
            "Дата редактирования",
            "Кем изменена",
            "Кем изменен",
        ],
    ),
];

/// amoCRM's export of deals ("Сделки" → "Экспорт"): the deal's own columns.
const AMOCRM_DEALS: Aliases = &[
    ("title", &["Название", "Название сделки", "Сделка"]),
    ("amount", &["Бюджет", "Бюджет руб", "Бюджет ₽"]),
    ("stage", &["Этап", "Этап сделки", "Статус"]),
    ("pipeline", &["Воронка"]),
    ("owner", &["Ответственный"]),
    (
        "contact",
        &["Основной контакт", "Полное имя контакта", "Контакт"],
    ),
    ("company", &["Компания", "Компания контакта"]),
    ("tags", &["Теги"]),
    ("created_at", &["Дата создания"]),
    ("closed_at", &["Дата закрытия"]),
    ("lost_reason", &["Причина отказа"]),
    (
        "ignore",
        &["ID", "Кем создана", "Дата редактирования", "Кем изменена"],
    ),
];

/// Bitrix24's export of the deal list ("Сделки" → "Экспорт в Excel/CSV").
const BITRIX24_DEALS: Aliases = &[
    ("title", &["Название сделки", "Название"]),
    ("amount", &["Сумма", "Сумма и валюта"]),
    ("currency", &["Валюта"]),
    ("stage", &["Стадия сделки", "Стадия"]),
    ("pipeline", &["Направление", "Воронка"]),
    ("owner", &["Ответственный"]),
    ("contact", &["Контакт", "Клиент"]),
    ("company", &["Компания"]),
    ("source", &["Источник"]),
    ("created_at", &["Дата создания"]),
    (
        "close_date",
        &["Дата завершения", "Предполагаемая дата закрытия"],
    ),
    ("lost_reason", &["Причина отказа", "Причина провала"]),
    (
        "ignore",
        &[
            "ID",
            "Дата изменения",
            "Кем создана",
            "Кем изменена",
            "Дата начала",
            "Вероятность",
            "Тип",
            "Доступна для всех",
        ],
    ),
];

/// Bitrix24's export of the task list ("Задачи" → "Экспорт в Excel").
const BITRIX24_TASKS: Aliases = &[
    ("title", &["Название", "Название задачи"]),
    ("description", &["Описание"]),
    ("assignee", &["Ответственный", "Исполнитель"]),
    ("due", &["Крайний срок"]),
    ("status", &["Статус"]),
    ("completed_at", &["Дата закрытия", "Закрыта"]),
    ("created_at", &["Дата создания", "Создана"]),
    ("deal", &["Сделка", "Элемент CRM"]),
    (
        "ignore",
        &[
            "ID",
            "Постановщик",
            "Проект",
            "Дата изменения",
            "Затраченное время",
        ],
    ),
];

/// Bitrix24's export of companies.
const BITRIX24_COMPANIES: Aliases = &[
    ("name", &["Название компании", "Название"]),
    (
        "phone",
        &["Рабочий телефон", "Мобильный телефон", "Телефон"],
    ),
    ("email", &["Рабочий e-mail", "E-mail", "Частный e-mail"]),
    ("website", &["Корпоративный сайт", "Сайт"]),
    ("address", &["Адрес", "Фактический адрес"]),
    ("source", &["Источник"]),
    ("owner", &["Ответственный"]),
    ("created_at", &["Дата создания"]),
    (
        "ignore",
        &["ID", "Тип компании", "Сфера деятельности", "Дата изменения"],
    ),
];

/// The header tables of a preset and kind, the preset's own first.
fn tables(preset: ImportPreset, kind: ImportKind) -> [Aliases; 2] {
    let spreadsheet = match kind {
        ImportKind::Companies => SPREADSHEET_COMPANIES,
        ImportKind::Deals => SPREADSHEET_DEALS,
        ImportKind::Tasks => SPREADSHEET_TASKS,
        ImportKind::Activities => SPREADSHEET_ACTIVITIES,
    };
    let own: Aliases = match (preset, kind) {
        (ImportPreset::Amocrm, ImportKind::Companies) => AMOCRM_COMPANIES,
        (ImportPreset::Amocrm, ImportKind::Deals) => AMOCRM_DEALS,
        (ImportPreset::Bitrix24, ImportKind::Companies) => BITRIX24_COMPANIES,
        (ImportPreset::Bitrix24, ImportKind::Deals) => BITRIX24_DEALS,
        (ImportPreset::Bitrix24, ImportKind::Tasks) => BITRIX24_TASKS,
        _ => &[],
    };
    [own, spreadsheet]
}

/// The target a header means for this preset and kind, if it is one it knows.
pub(crate) fn guess(preset: ImportPreset, kind: ImportKind, header: &str) -> Option<&'static str> {
    let folded = fold_name(header);
    tables(preset, kind).into_iter().find_map(|table| {
        table.iter().find_map(|(target, headers)| {
            headers
                .iter()
                .any(|known| fold_name(known) == folded)
                .then_some(*target)
        })
    })
}
