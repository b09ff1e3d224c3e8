module github.com/bpekit/bpekit/bindings/go

go 1.22
