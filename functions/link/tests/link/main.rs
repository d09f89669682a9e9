//! fn link against moto and the sandbox store, through the local runner over real HTTP.

mod api;
mod browser;
mod events;
mod helpers;
mod logs;
mod pages;
