// Package tools pins the code generators Zenith uses (protoc-gen-go and
// protoc-gen-connect-go, as tool directives in go.mod) and tests that the
// generated code committed in pkg/gen matches what they generate from
// proto/. `make tools` installs them, with the buf CLI; `make generate`
// regenerates.
package tools
