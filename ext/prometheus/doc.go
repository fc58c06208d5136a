// Package sluiceprom exports a Sluice engine's metrics to Prometheus.
package sluiceprom
