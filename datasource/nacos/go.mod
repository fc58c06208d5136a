module github.com/sluice-go/sluice/datasource/nacos

go 1.24.0

replace github.com/sluice-go/sluice => ../../

require github.com/sluice-go/sluice v0.0.0-00010101000000-000000000000
