// Package sluiceotel exports a Sluice engine's metrics through OpenTelemetry.
package sluiceotel
