// Package params makes a definition a template: its parameters_schema (a
// JSON Schema, draft 2020-12) declares typed parameters, its command uses
// them as {{ .params.NAME }}, and a launch (or a schedule) passes values.
//
// Three checks, three places:
//
//   - CheckSchema, when a definition is written: the schema must be an
//     object of string, number, integer and boolean properties (with enum,
//     title, description, default and simple bounds), nothing more: a form
//     can be drawn from it and every value renders as one shell word.
//   - CheckTemplate, when a definition is written: the command must parse
//     as a Go text/template using only {{ .params.NAME }} of declared names
//     (each required or with a default, so every launch can be rendered),
//     {{ if .params.FLAG }}…{{ else }}…{{ end }} on booleans, and string
//     constants. No function can be called (text/template's builtins are
//     pure, and no others are given), so rendering touches nothing outside.
//   - Resolve, at every launch: the values are checked with
//     github.com/santhosh-tekuri/jsonschema/v6 against the schema (one field
//     error per bad parameter, params.NAME), defaults are filled in.
//
// Render then substitutes the values. It is safe by construction for the
// shell the command runs in (sh -c): a string value is rendered
// single-quoted (a ' inside is closed, escaped and reopened), so it is exactly one word whatever it
// holds; numbers render as their JSON text and booleans as true or false,
// neither of which has a character the shell treats specially. Because the
// quoting is done for the author, CheckTemplate refuses a string parameter
// placed where single quotes do not protect it: inside '…', "…" or `…`, in a
// # comment, or after a << here-document operator. What the command does
// with the word afterwards (eval, sh -c "$1", ssh) is the command's business:
// the value reaches the job unchanged, as one argument.
package params
