// Package config owns Parley's configuration: the Config struct, its
// defaults (Default), loading (Load) and validation (Validate).
//
// Load layers, later winning: Default(), then one YAML file (parley.yaml in
// the working directory unless a path is given), then PARLEY_<SECTION>_<KEY>
// environment variables derived from the yaml tags (PARLEY_DB_DSN,
// PARLEY_TRANSPORT_MAX_FRAME, ...). It decodes the file itself, node by node,
// instead of handing it to a generic loader, because it must:
//
//   - be strict: an unknown key anywhere is an error, with a did-you-mean;
//   - report every problem at once, each with the file:line (or the
//     environment variable) to fix, as caddy and nats-server do;
//   - keep each pipeline entry's with: node undecoded, with the entry's
//     file:line in Middleware.Pos, for pipeline.Build to decode with
//     DecodeStrict (the same decoder as the file's) into the middleware's
//     own options type.
//
// parley.example.yaml at the repository root documents every key with its
// default; a test keeps it equal to Default() and checks it sets every key.
//
// What this package must not do: import any other Parley package (it is a
// leaf: the packages configured import it, never the reverse), know
// middleware names or options (pipeline.Build checks them against the
// registry), open sockets or files other than the configuration file, or
// change a Config after Load returns it.
package config
