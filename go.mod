module github.com/sluice-go/sluice

go 1.22

require go.uber.org/goleak v1.3.0

require github.com/hashicorp/golang-lru/v2 v2.0.7 // indirect
