//! The reconciler's state: entries mapping manifest keys to live ids, ownership and last-applied
//! specs ([`entry`], pure data), kept by [`store`] on a [`backend`]: a local sled directory or a
//! shared PostgreSQL database ([`postgres`]); [`migrate`] moves a state between them.

pub mod backend;
pub mod entry;
pub mod migrate;
pub mod object;
pub mod postgres;
pub mod store;
