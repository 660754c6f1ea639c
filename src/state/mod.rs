//! The reconciler's state: entries mapping manifest keys to live ids, ownership and last-applied
//! specs ([`entry`], pure data), kept in sled by [`store`].

pub mod backend;
pub mod entry;
pub mod postgres;
pub mod store;
