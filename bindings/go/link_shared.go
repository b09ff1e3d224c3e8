//go:build !bpekit_static

package bpekit

// Links the shared libbpekit. Build with -tags bpekit_static to link the static
// library instead, named in CGO_LDFLAGS (see README.md).

// #cgo LDFLAGS: -lbpekit
import "C"
