module github.com/sluice-go/sluice/example

go 1.22

require github.com/sluice-go/sluice v0.0.0

replace github.com/sluice-go/sluice => ../
