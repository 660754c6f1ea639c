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
    member("clientId").on_create(),
    member("clientSecret").secret().never_returned(),
];

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
        member("clientId").on_create(),
        member("appleTeamId").on_create(),
        member("keyId").on_create(),
        member("clientSecret").secret().never_returned(),
    ]),
    rw("email", T::Object).presence_is_setting().members(&[
        member("expiresIn").on_create(),
        member("message").on_create(),
    ]),
    rw("email_otp", T::Object).presence_is_setting().members(&[
        member("expiresIn").on_create(),
        member("maxFailures").on_create(),
        member("message").on_create(),
    ]),
    rw("sms", T::Object).presence_is_setting().members(&[
        member("expiresIn").on_create(),
        member("maxFailures").on_create(),
    ]),
    rw("webauthn_api", T::Object)
        .presence_is_setting()
        .members(&[
            member("rpId").on_create(),
            member("replaceExistingPasskey").default(Lit::Bool(false)),
        ]),
    rw("password", T::Object).presence_is_setting().members(&[
        member("resetValidityMinutes")
            .on_create()
            .default(Lit::Int(5)),
        member("passwordComplexity")
            .on_create()
            .default(Lit::Int(5)),
        member("passwordMinLength")
            .on_create()
            .default(Lit::Int(14)),
        member("blockPreviousPasswords")
            .on_create()
            .default(Lit::Int(0)),
        member("checkHibp").default(Lit::Bool(false)),
        member("checkDictionary").default(Lit::Bool(false)),
        member("passwordExpiresIn")
            .on_create()
            .default(Lit::Int(90)),
        member("ignoreExpiration").default(Lit::Bool(false)),
        member("maxPasswordFailures")
            .on_create()
            .default(Lit::Int(5)),
        member("passwordSuspensionDuration")
            .on_create()
            .default(Lit::Int(15)),
        member("failuresExpireIn").default(Lit::Int(15)),
        member("requireMFA").default(Lit::Bool(false)),
        member("notifyOnPasswordUpdate").default(Lit::Bool(false)),
        member("message").on_create(),
    ]),
    rw("totp", T::Object).presence_is_setting().members(&[
        member("algorithm").default(Lit::Str("sha1")),
        member("digits").default(Lit::Int(6)),
        member("period").default(Lit::Int(30)),
        member("window").default(Lit::Int(1)),
        member("maxFailures").default(Lit::Int(5)),
        member("lockoutDuration").default(Lit::Int(15)),
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
            member("maxFailures").default(Lit::Int(5)),
            member("lockoutDuration").default(Lit::Int(15)),
            member("failuresExpireIn").default(Lit::Int(15)),
        ]),
];
