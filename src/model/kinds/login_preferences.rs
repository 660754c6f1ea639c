//! `LoginPreferences`: an application's login methods, `GET /loginPreferences/{app_id}` (as
//! `result.auth_methods`) and `PUT /loginPreferences/{app_id}/authMethods`. One per application,
//! never created or deleted, replaced whole on update; social logins' `clientSecret` is a secret.

use super::{
    rw, AnyKind, Api, CreateAnswer, Envelope, Field, FieldType as T, KindSpec, NaturalKey, ObjKind,
    Parent, Permissions, Schemas, Upstream,
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

const SECRET: &[&str] = &["clientSecret"];
const SOCIAL: &[&str] = &["clientId"];

const FIELDS: &[Field] = &[
    rw("google", T::Object).secrets(SECRET).requires(SOCIAL),
    rw("facebook", T::Object).secrets(SECRET).requires(SOCIAL),
    rw("line", T::Object).secrets(SECRET).requires(SOCIAL),
    rw("tiktok", T::Object).secrets(SECRET).requires(SOCIAL),
    rw("apple", T::Object)
        .secrets(SECRET)
        .requires(&["clientId", "appleTeamId", "keyId"]),
    rw("email", T::Object).requires(&["expiresIn", "message"]),
    rw("email_otp", T::Object).requires(&["expiresIn", "maxFailures", "message"]),
    rw("sms", T::Object).requires(&["expiresIn", "maxFailures"]),
    rw("webauthn_api", T::Object)
        .requires(&["rpId"])
        .member_defaults(&[("replaceExistingPasskey", Lit::Bool(false))]),
    rw("password", T::Object)
        .requires(&[
            "resetValidityMinutes",
            "passwordComplexity",
            "passwordMinLength",
            "blockPreviousPasswords",
            "passwordExpiresIn",
            "maxPasswordFailures",
            "passwordSuspensionDuration",
            "message",
        ])
        .member_defaults(&[
            ("resetValidityMinutes", Lit::Int(5)),
            ("passwordComplexity", Lit::Int(5)),
            ("passwordMinLength", Lit::Int(14)),
            ("blockPreviousPasswords", Lit::Int(0)),
            ("checkHibp", Lit::Bool(false)),
            ("checkDictionary", Lit::Bool(false)),
            ("passwordExpiresIn", Lit::Int(90)),
            ("ignoreExpiration", Lit::Bool(false)),
            ("maxPasswordFailures", Lit::Int(5)),
            ("passwordSuspensionDuration", Lit::Int(15)),
            ("failuresExpireIn", Lit::Int(15)),
            ("requireMFA", Lit::Bool(false)),
            ("notifyOnPasswordUpdate", Lit::Bool(false)),
        ]),
    rw("totp", T::Object).member_defaults(&[
        ("algorithm", Lit::Str("sha1")),
        ("digits", Lit::Int(6)),
        ("period", Lit::Int(30)),
        ("window", Lit::Int(1)),
        ("maxFailures", Lit::Int(5)),
        ("lockoutDuration", Lit::Int(15)),
    ]),
    rw("push", T::Object),
    // Returned, but not in the update body: read-only here.
    rw("pin_authenticator", T::Object)
        .generated(Presence::Optional)
        .member_defaults(&[
            ("maxFailures", Lit::Int(5)),
            ("lockoutDuration", Lit::Int(15)),
            ("failuresExpireIn", Lit::Int(15)),
        ]),
];
