//! `LoginPreferences`: an application's login methods, `GET /loginPreferences/{app_id}` (as
//! `result.auth_methods`) and `PUT /loginPreferences/{app_id}/authMethods`. One per application,
//! never created or deleted, replaced whole on update; social logins' `clientSecret` and the push
//! keys (`push.apn.key`, `push.fcm.key`) are secrets.
//! Each login method is on while its object is there, whatever its members hold
//! (`presence_is_setting`).

use super::{
    member, rw, AnyKind, Api, CreateAnswer, Envelope, Field, FieldType as T, KindSpec, NaturalKey,
    ObjKind, Parent, Permissions, Schemas, Upstream,
};
use crate::model::catalogue::{Lit, Presence};

/// The description.
pub static SPEC: KindSpec = KindSpec {
    kind: AnyKind::Described(ObjKind::LoginPreferences),
    name: "LoginPreferences",
    noun: "login preferences",
    plural: "login preferences",
    api: Api {
        collection: "/loginPreferences/{app_id}",
        item: "/loginPreferences/{app_id}/authMethods",
        id_field: None,
        singleton_field: Some("auth_methods"),
        create: false,
        read_one: false,
        by_key: None,
        delete: false,
        replace_whole: true,
        create_answer: CreateAnswer::Object,
        envelope: Envelope::Result,
        update_answers_object: false,
        accepted: false,
        replaces_one: None,
    },
    natural_key: NaturalKey::Singleton,
    unique_key: true,
    parent: Some(Parent::Application),
    fields: FIELDS,
    catalogue: &[],
    in_use: None,
    read_permission: "apps:read",
    permissions: Permissions {
        read: &[
            "apps:read",
            "*:read",
            "config:read",
            "authentication-methods:read",
        ],
        create: &[],
        edit: &[
            "apps:edit",
            "*:edit",
            "config:edit",
            "authentication-methods:edit",
        ],
        delete: &[],
    },
    upstream: Upstream {
        document: "login-preferences.openapi.2025.json",
        schemas: &[Schemas {
            response: "ApiAuthMethods",
            create: None,
            update: "ApiUpdateAuthMethodsInput",
        }],
    },
};

/// A social login's members: the OAuth client it signs in with.
const SOCIAL: &[Field] = &[
    member("clientId").typed(T::String).on_create(),
    member("clientSecret")
        .typed(T::String)
        .secret()
        .never_returned(),
    member("redirectUris").typed(T::Strings),
];

/// A message's look (`MessageConfiguration`): of an email, or of a password's reset.
const MESSAGE: &[Field] = &[
    member("primaryColor").typed(T::String).on_create(),
    member("from").typed(T::String),
    member("subject").typed(T::String),
];

/// A number of minutes, tries, digits, … (upstream types them all as numbers).
const fn number(name: &'static str) -> Field {
    member(name).typed(T::Number)
}

/// A number upstream bounds, with its default.
const fn bounded(name: &'static str, min: u64, max: u64) -> Field {
    number(name).between(min, max)
}

/// A flag with its default.
const fn flag(name: &'static str, default: bool) -> Field {
    member(name).typed(T::Boolean).default(Lit::Bool(default))
}

const FIELDS: &[Field] = &[
    rw("google", T::Object)
        .presence_is_setting()
        .members(SOCIAL),
    rw("facebook", T::Object)
        .presence_is_setting()
        .members(SOCIAL),
    rw("line", T::Object).presence_is_setting().members(SOCIAL),
    rw("tiktok", T::Object)
        .presence_is_setting()
        .members(SOCIAL),
    rw("apple", T::Object).presence_is_setting().members(&[
        member("clientId").typed(T::String).on_create(),
        member("appleTeamId").typed(T::String).on_create(),
        member("keyId").typed(T::String).on_create(),
        member("clientSecret")
            .typed(T::String)
            .secret()
            .never_returned(),
        member("redirectUris").typed(T::Strings),
    ]),
    rw("email", T::Object).presence_is_setting().members(&[
        number("expiresIn").on_create(),
        member("message")
            .typed(T::Object)
            .on_create()
            .members(MESSAGE),
    ]),
    rw("email_otp", T::Object).presence_is_setting().members(&[
        number("expiresIn").on_create(),
        number("lockoutDuration"),
        number("maxFailures").on_create(),
        number("codeLength"),
        member("message")
            .typed(T::Object)
            .on_create()
            .members(MESSAGE),
    ]),
    rw("sms", T::Object).presence_is_setting().members(&[
        number("expiresIn").on_create(),
        number("lockoutDuration"),
        number("maxFailures").on_create(),
        number("codeLength"),
    ]),
    rw("webauthn_api", T::Object)
        .presence_is_setting()
        .members(&[
            member("rpId").typed(T::String).on_create(),
            member("rpOrigin").typed(T::String),
            member("rpOrigins").typed(T::Strings),
            flag("replaceExistingPasskey", false),
        ]),
    rw("password", T::Object).presence_is_setting().members(&[
        bounded("resetValidityMinutes", 5, 60)
            .on_create()
            .default(Lit::Int(5)),
        bounded("passwordComplexity", 1, 5)
            .on_create()
            .default(Lit::Int(5)),
        bounded("passwordMinLength", 5, 14)
            .on_create()
            .default(Lit::Int(14)),
        bounded("blockPreviousPasswords", 0, 20)
            .on_create()
            .default(Lit::Int(0)),
        flag("checkHibp", false),
        flag("checkDictionary", false),
        bounded("passwordExpiresIn", 1, 1096)
            .on_create()
            .default(Lit::Int(90)),
        flag("ignoreExpiration", false),
        bounded("maxPasswordFailures", 1, 20)
            .on_create()
            .default(Lit::Int(5)),
        bounded("passwordSuspensionDuration", 1, 525_600)
            .on_create()
            .default(Lit::Int(15)),
        bounded("failuresExpireIn", 1, 525_600).default(Lit::Int(15)),
        bounded("tempPasswordValidityHours", 1, 8760),
        flag("requireMFA", false),
        number("codeLength"),
        flag("notifyOnPasswordUpdate", false),
        member("message")
            .typed(T::Object)
            .on_create()
            .members(MESSAGE),
    ]),
    rw("totp", T::Object).presence_is_setting().members(&[
        member("algorithm")
            .typed(T::String)
            .one_of(&["sha1", "sha256", "sha512"])
            .default(Lit::Str("sha1")),
        number("digits").default(Lit::Int(6)),
        number("period").default(Lit::Int(30)),
        number("window").default(Lit::Int(1)),
        member("issuer").typed(T::String),
        number("maxFailures").default(Lit::Int(5)),
        number("lockoutDuration").default(Lit::Int(15)),
    ]),
    // The keys that sign push notifications are secrets one level further down. Upstream's
    // response schema requires them in answers, so the bundled server answers them; tenantsync
    // removes them from every answer it reads (`read_as_written`).
    rw("push", T::Object).presence_is_setting().members(&[
        member("apn").typed(T::Object).members(&[
            member("key").typed(T::String).on_create().secret(),
            member("keyId").typed(T::String).on_create(),
            member("teamId").typed(T::String).on_create(),
            member("bundle").typed(T::String).on_create(),
            member("isProduction").typed(T::Boolean),
        ]),
        member("fcm")
            .typed(T::Object)
            .members(&[member("key").typed(T::Object).on_create().secret()]),
    ]),
    // Returned, but not in the update body: read-only here.
    rw("pin_authenticator", T::Object)
        .presence_is_setting()
        .generated(Presence::Optional)
        .members(&[
            number("maxFailures").default(Lit::Int(5)),
            number("lockoutDuration").default(Lit::Int(15)),
            bounded("failuresExpireIn", 1, 525_600).default(Lit::Int(15)),
        ]),
];
