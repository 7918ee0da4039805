// Package migrations holds the SQL schema of dispatchhub as golang-migrate files, embedded
// into the binary. Files are NNNNNN_name.up.sql / .down.sql; never edit one that has shipped.
package migrations

import "embed"

// FS is the embedded set of migration files.
//
//go:embed *.sql
var FS embed.FS
