module github.com/sluice-go/sluice/ext/otel

go 1.24.0

replace github.com/sluice-go/sluice => ../../

require github.com/sluice-go/sluice v0.1.0
