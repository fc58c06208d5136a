module github.com/sluice-go/sluice/example

go 1.22

require github.com/sluice-go/sluice v0.0.0

require (
	github.com/hashicorp/golang-lru/v2 v2.0.7 // indirect
	go.uber.org/goleak v1.3.0
)

replace github.com/sluice-go/sluice => ../
