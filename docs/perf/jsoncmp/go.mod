module github.com/parley-im/parley/docs/perf/jsoncmp

go 1.26.4

replace github.com/parley-im/parley => ../../..

require (
	github.com/goccy/go-json v0.10.5
	github.com/json-iterator/go v1.1.12
	github.com/parley-im/parley v0.0.0
)

require (
	github.com/modern-go/concurrent v0.0.0-20180228061459-e0a39a4cb421 // indirect
	github.com/modern-go/reflect2 v1.0.2 // indirect
)
