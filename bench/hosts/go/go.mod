module github.com/bpekit/bpekit/bench/hosts/go

go 1.22

require github.com/bpekit/bpekit/bindings/go v0.0.0

replace github.com/bpekit/bpekit/bindings/go => ../../../bindings/go
