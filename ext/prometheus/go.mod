module github.com/sluice-go/sluice/ext/prometheus

go 1.24.0

replace github.com/sluice-go/sluice => ../../

require github.com/sluice-go/sluice v0.1.0
