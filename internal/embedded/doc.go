// Package embedded implements Flotilla's ports on one machine, with no
// outside service: an SQLite store and durable per-cluster FIFO queue (one
// database file, pure-Go driver, WAL mode), a local executor that runs each
// run as a host process under `sh -c` (or a Docker container when a Docker
// engine answers), and a log reader over the files the executor writes.
//
// It is what `flotilla serve` wires by default. It persists across restarts:
// the database survives a SIGKILL of the server (WAL with synchronous=NORMAL
// loses nothing on a process crash; an OS crash may lose the last
// transactions).
package embedded
