//! Integration tests: business scenarios through the public surface (HTTP API, pages,
//! storage functions) on a fresh database per test.
//!
//! They run on SQLite by default. With `PAPILIO_TEST_POSTGRES=postgres://USER@HOST:PORT` set,
//! every test runs on its own new PostgreSQL database instead. Browser tests need
//! `PAPILIO_TEST_CHROMEDRIVER` (path of chromedriver); without it they say they skipped.

mod support;

mod admin;
mod bench;
mod browser;
mod counts;
mod demo;
mod documents;
mod engineering;
mod foundation;
mod permissions;
mod sales;
mod sales_pages;
mod sales_reports;
mod stock;
mod stock_analysis;
mod stock_views;
mod transfer;
